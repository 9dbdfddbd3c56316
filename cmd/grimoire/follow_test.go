package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server/protocol"
)

// A run that shows nothing for a while gets a line saying how long it has
// taken and which nodes are still running; the line stops with the run.
func TestFollowSaysWhatIsStillRunning(t *testing.T) {
	var out lockedBuffer
	p := &progress{w: &out, every: 40 * time.Millisecond}
	p.show(protocol.Message{Type: protocol.NodeStart, NodeID: "fetch", NodeType: "Text Template"})
	p.show(protocol.Message{Type: protocol.NodeStart, NodeID: "llm", NodeType: "Chat Completion"})
	p.show(protocol.Message{Type: protocol.NodeEnd, NodeID: "fetch"})
	still := regexp.MustCompile(`(?m)^… \S+, running: llm \(Chat Completion\)$`)
	deadline := time.Now().Add(5 * time.Second)
	for !still.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no still-running line after 5 s:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.show(protocol.Message{Type: protocol.NodeEnd, NodeID: "llm"})
	p.show(protocol.Message{Type: protocol.RunCompleted, RunID: "r1"})
	p.mu.Lock()
	ended := p.ended
	p.mu.Unlock()
	if !ended {
		t.Fatal("the run's end did not stop the still-running line")
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); !strings.HasPrefix(lines[len(lines)-1], "run r1 completed") {
		t.Fatalf("the last line is not the run's end:\n%s", out.String())
	}
}
