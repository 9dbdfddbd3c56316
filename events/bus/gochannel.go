package bus

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// newGoChannel builds the in-process bus.
//
// Watermill's GoChannel sends every message from its own goroutine, so with
// its default configuration two messages published one after the other can
// reach a subscriber in either order. It keeps order only when Publish waits
// for the subscriber's ack of each message before sending the next one
// (BlockPublishUntilSubscriberAck), which it does while holding the topic's
// lock. That wait is paid per message, not per event: each topic's sender
// (see Bus) puts everything queued by concurrent Publish calls into one
// message, and Subscribe acks a message as soon as it has read it, before
// handing its events over, so the wait is one goroutine hand-off and
// Buffer absorbs bursts. Persistent stays off: replaying persisted
// messages to a new subscriber is unordered too, and keeps every message
// in memory forever. The store, not the bus, is where history is read
// from. OutputChannelBuffer is 0: our own buffered channel sits behind it.
func newGoChannel(opts Options, wlog watermill.LoggerAdapter) *Bus {
	gc := gochannel.NewGoChannel(gochannel.Config{
		OutputChannelBuffer:            0,
		Persistent:                     false,
		BlockPublishUntilSubscriberAck: true,
	}, wlog)
	b := newBus(gc, gc, func(t string) string { return t }, opts, "gochannel")
	b.local = true
	return b
}
