package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func TestEcho(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, tt := range []struct {
		in   any
		want string
	}{{"hello", "hello"}, {42.0, "42"}, {map[string]any{"a": 1.0}, `{"a":1}`}} {
		s := newSpell("echo").
			node("start", "Module Trigger In", nil).
			node("in", "Input", map[string]any{"name": "x"}).
			node("echo", "Echo", nil).
			node("out", "Output", map[string]any{"name": "o"}).
			edge("start.trigger>echo.trigger", "in.output>echo.string", "echo.trigger>out.trigger", "echo.output>out.input").build()
		outs, _ := h.mustRun(t, s, map[string]any{"x": tt.in})
		if outs["o"] != tt.want {
			t.Errorf("Echo(%v) = %#v, want %q", tt.in, outs["o"], tt.want)
		}
	}
}
