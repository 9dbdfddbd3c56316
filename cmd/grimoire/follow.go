package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/server/protocol"
)

// progress shows a run as it happens: with text, each node as it starts
// and ends and the tokens it streams, on stderr; with asJSON, every event
// as a JSON line (docs/protocol.md's messages) on stdout.
type progress struct {
	w      io.Writer
	enc    *json.Encoder
	mu     sync.Mutex
	open   string // the node whose streamed text the line holds
	chunks int
}

func newProgress(env *cliEnv, asJSON bool) *progress {
	p := &progress{w: env.stderr}
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
