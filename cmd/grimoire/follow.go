package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/server/protocol"
)

// progress shows a run as it happens: with text, each node as it starts
// and ends and the tokens it streams, on stderr, and when nothing was
// shown for a while a line saying how long the run has taken and which
// nodes are still running; with asJSON, every event as a JSON line
// (docs/protocol.md's messages) on stdout.
type progress struct {
	w      io.Writer
	enc    *json.Encoder
	every  time.Duration // quiet time before a "still running" line
	mu     sync.Mutex
	open   string // the node whose streamed text the line holds
	chunks int

	began, last time.Time
	running     []runningNode // in progress, by start
	stop        chan struct{} // closes the ticker; nil before the first event
	ended       bool
}

// runningNode is a node in progress, as the "still running" line names it.
type runningNode struct{ label, nodeType string }

// progressEvery is how long a run may show nothing before progress says
// it is still running.
const progressEvery = 5 * time.Second

func newProgress(env *cliEnv, asJSON bool) *progress {
	p := &progress{w: env.stderr, every: progressEvery}
	if asJSON {
		p.enc = json.NewEncoder(env.stdout)
		p.enc.SetEscapeHTML(false)
	}
	return p
}

func nodeLabel(m protocol.Message) string {
	id := m.NodeID
	if m.Activation > 1 {
		id = fmt.Sprintf("%s#%d", id, m.Activation)
	}
	if len(m.Path) > 0 {
		id = strings.Join(m.Path, "/") + "/" + id
	}
	return id
}

func (p *progress) show(m protocol.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enc != nil {
		_ = p.enc.Encode(m)
		return
	}
	label := nodeLabel(m)
	p.track(m, label)
	if m.Type == protocol.NodeChunk && p.open == label {
		fmt.Fprint(p.w, m.Text)
		p.chunks++
		return
	}
	if p.open != "" {
		fmt.Fprintln(p.w)
		p.open = ""
	}
	dur := ""
	if m.DurationMs != nil {
		dur = " " + round(time.Duration(*m.DurationMs*float64(time.Millisecond))).String()
	}
	switch m.Type {
	case protocol.NodeStart:
		fmt.Fprintf(p.w, "▸ %s (%s)\n", label, m.NodeType)
	case protocol.NodeChunk:
		fmt.Fprintf(p.w, "  %s │ %s", label, m.Text)
		p.open, p.chunks = label, 1
	case protocol.NodeEnd:
		how := ""
		if m.Cached != nil && *m.Cached {
			how = " (" + cmp.Or(m.Source, "cached") + ")"
		}
		fmt.Fprintf(p.w, "✓ %s%s%s\n", label, dur, how)
	case protocol.NodeError:
		fmt.Fprintf(p.w, "✗ %s%s: %s\n", label, dur, m.Error)
	case protocol.NodeSkip:
		fmt.Fprintf(p.w, "- %s skipped: %s\n", label, m.Reason)
	case protocol.RunCompleted:
		fmt.Fprintf(p.w, "run %s completed%s\n", m.RunID, dur)
	case protocol.RunFailed, protocol.RunCancelled:
		fmt.Fprintf(p.w, "run %s %s: %s\n", m.RunID, strings.TrimPrefix(m.Type, "run:"), cmp.Or(m.Error, m.Reason))
	}
}

// track keeps what the "still running" line says, and starts its ticker
// at the run's first event and stops it at the last. p.mu is held.
func (p *progress) track(m protocol.Message, label string) {
	now := time.Now()
	p.last = now
	if p.stop == nil && !p.ended {
		p.began, p.stop = now, make(chan struct{})
		go p.tick(p.stop)
	}
	switch m.Type {
	case protocol.NodeStart:
		if i := slices.IndexFunc(p.running, func(r runningNode) bool { return r.label == label }); i >= 0 {
			p.running[i].nodeType = m.NodeType
		} else {
			p.running = append(p.running, runningNode{label, m.NodeType})
		}
	case protocol.NodeEnd, protocol.NodeError, protocol.NodeSkip:
		p.running = slices.DeleteFunc(p.running, func(r runningNode) bool { return r.label == label })
	}
	if m.Terminal() && !p.ended {
		p.ended = true
		close(p.stop)
	}
}

func (p *progress) tick(stop chan struct{}) {
	t := time.NewTicker(p.every / 5)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if !p.ended && now.Sub(p.last) >= p.every {
				if p.open != "" {
					fmt.Fprintln(p.w)
					p.open = ""
				}
				fmt.Fprintf(p.w, "… %s, %s\n", round(now.Sub(p.began)), p.runningNow())
				p.last = now
			}
			p.mu.Unlock()
		}
	}
}

// runningNow says which nodes are in progress. p.mu is held.
func (p *progress) runningNow() string {
	if len(p.running) == 0 {
		return "still running"
	}
	names := make([]string, len(p.running))
	for i, r := range p.running {
		names[i] = fmt.Sprintf("%s (%s)", r.label, r.nodeType)
	}
	return "running: " + strings.Join(names, ", ")
}

// followLocal shows the events of the run the function start starts in
// this process, from the in-process bus, until the run's terminal event
// or ctx ends. It subscribes before the run starts, so that no event is
// missed.
func followLocal(ctx context.Context, b *bus.Bus, p *progress, start func() (string, error)) (string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	ch, err := b.SubscribeWhere(ctx, bus.TopicRuns, func(stream string) bool { return strings.HasPrefix(stream, "run-") })
	if err != nil {
		cancel()
		return "", nil, err
	}
	runID, err := start()
	if err != nil {
		cancel()
		return "", nil, err
	}
	stream := "run-" + runID
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			if e.Stream != stream {
				continue
			}
			m, ok, err := protocol.FromEvent(e)
			if err != nil || !ok {
				continue
			}
			p.show(m)
			if m.Terminal() {
				return
			}
		}
	}()
	// wait lets the last events through (they are published after the
	// commit that ends the run), then stops.
	wait := func() {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		cancel()
	}
	return runID, wait, nil
}
