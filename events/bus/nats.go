package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/nats-io/nats.go"
)

// newNATS builds the bus over NATS JetStream.
//
// Topic scheme: one subject per topic (prefix + "runs", …), not one per
// run. JetStream orders a stream by arrival, and a run's events are
// published by one recorder, one synchronous publish after the other, so a
// run's events keep their order on the shared subject; every subscriber
// (each process's socket layer) wants all runs anyway and picks rooms in
// memory, so per-run subjects would only multiply subjects and consumer
// filters. A NATS message carries a batch of events (see Bus and
// MetaEvents), so one JetStream publish acknowledgement is waited for per
// batch, not per event. Each Subscribe is its own ephemeral push consumer
// that starts at new messages (DeliverNew); the consumer hands over one
// message at a time and Subscribe acks it once read, so redelivery cannot
// reorder. Publishing sets the message ID as Nats-Msg-Id: a retried
// publish of the same batch is dropped by JetStream's duplicate window,
// and a subscription drops events of a stream it has already delivered
// (a retry batched differently, a redelivery).
func newNATS(ctx context.Context, opts Options, wlog watermill.LoggerAdapter) (*Bus, error) {
	connect := func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(opts.URL,
			nats.Name(name),
			nats.Timeout(opts.ConnectTimeout),
			nats.MaxReconnects(-1),
		)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS at %s: %w (is nats-server running with -js? unset %s for the in-process bus)", opts.URL, err, EnvURL)
		}
		return nc, nil
	}
	pubConn, err := connect("grimoire-bus-publisher")
	if err != nil {
		return nil, err
	}
	subConn, err := connect("grimoire-bus-subscriber")
	if err != nil {
		pubConn.Close()
		return nil, err
	}
	fail := func(err error) (*Bus, error) {
		pubConn.Close()
		subConn.Close()
		return nil, err
	}
	if err := ensureStream(ctx, pubConn, opts); err != nil {
		return fail(err)
	}

	js := wmnats.JetStreamConfig{
		TrackMsgId: true,
		AckAsync:   true,
		SubscribeOptions: []nats.SubOpt{
			nats.DeliverNew(),
			nats.AckExplicit(),
			// A consumer whose process died goes away by itself.
			nats.InactiveThreshold(time.Minute),
		},
	}
	pub, err := wmnats.NewPublisherWithNatsConn(pubConn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         js,
	}, wlog)
	if err != nil {
		return fail(fmt.Errorf("NATS publisher: %w", err))
	}
	sub, err := wmnats.NewSubscriberWithNatsConn(subConn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:       &wmnats.NATSMarshaler{},
		SubscribersCount:  1, // more would deliver one subscription's messages concurrently
		AckWaitTimeout:    30 * time.Second,
		CloseTimeout:      5 * time.Second,
		SubscribeTimeout:  opts.ConnectTimeout,
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream:         js,
	}, wlog)
	if err != nil {
		return fail(fmt.Errorf("NATS subscriber: %w", err))
	}
	// A message must fit the server's max_payload, headers included.
	if limit := int(pubConn.MaxPayload()) - 16<<10; limit > 0 && opts.MaxBatchBytes > limit {
		opts.MaxBatchBytes = limit
	}
	prefix := opts.NATSSubjectPrefix
	return newBus(pub, sub, func(t string) string { return prefix + t }, opts, "nats-jetstream"), nil
}

// ensureStream creates the bus's JetStream stream when it is missing.
func ensureStream(ctx context.Context, nc *nats.Conn, opts Options) error {
	js, err := nc.JetStream(nats.Context(ctx))
	if err != nil {
		return fmt.Errorf("JetStream at %s: %w", opts.URL, err)
	}
	_, err = js.StreamInfo(opts.NATSStream, nats.Context(ctx))
	if err == nil {
		return nil
	}
	if !errors.Is(err, nats.ErrStreamNotFound) {
		return fmt.Errorf("JetStream stream %q at %s: %w (is JetStream enabled on the server?)", opts.NATSStream, opts.URL, err)
	}
	_, err = js.AddStream(&nats.StreamConfig{
		Name:        opts.NATSStream,
		Description: "Grimoire event bus: committed events fanned out between processes",
		Subjects:    []string{opts.NATSSubjectPrefix + ">"},
		MaxAge:      opts.NATSMaxAge,
		Duplicates:  min(2*time.Minute, opts.NATSMaxAge),
		Storage:     nats.FileStorage,
	}, nats.Context(ctx))
	if err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create JetStream stream %q at %s: %w", opts.NATSStream, opts.URL, err)
	}
	return nil
}
