// Package sandboxtest holds the tests every services.Sandbox must pass,
// whatever runs the code (jsvm in this process, sandbox's worker
// processes). It imports services only.
package sandboxtest

import (
	"context"
	"reflect"
	"testing"

	"github.com/grimoire-run/grimoire/services"
)

// isolationProbe leaves marks in its runtime (a global, a top-level var, a
// patched prototype, a replaced builtin) and reports the marks it finds.
const isolationProbe = `var declared = typeof declared === 'undefined' ? 'unset' : declared;
function worker(inputs) {
  var seen = {
    global: typeof globalThis.leak === 'undefined' ? null : globalThis.leak,
    declared: declared,
    proto: typeof Object.prototype.leak === 'undefined' ? null : Object.prototype.leak,
    arrays: typeof [].leak === 'undefined' ? null : [].leak(),
    json: JSON.stringify({ a: 1 }),
  };
  globalThis.leak = inputs.mark;
  declared = inputs.mark;
  Object.prototype.leak = inputs.mark;
  Array.prototype.leak = function () { return inputs.mark };
  JSON.stringify = function () { return 'hijacked by ' + inputs.mark };
  return seen;
}`

// Isolation makes consecutive calls of sb, each as another user, leave
// marks in their runtime, and fails if a call sees an earlier call's. A
// sandbox with one worker (or one runtime) shows whether it resets it.
func Isolation(t *testing.T, sb services.Sandbox) {
	t.Helper()
	want := map[string]any{"global": nil, "declared": "unset", "proto": nil, "arrays": nil, "json": `{"a":1}`}
	for i, user := range []string{"alice", "bob", "carol", "alice"} {
		res, err := sb.Call(context.Background(), services.SandboxCall{Source: isolationProbe, User: user,
			Args: []any{map[string]any{"mark": user}}})
		if err != nil {
			t.Fatalf("call %d (%s): %v", i, user, err)
		}
		if !reflect.DeepEqual(res.Value, want) {
			t.Fatalf("call %d (%s) saw an earlier call's marks: %#v, want %#v", i, user, res.Value, want)
		}
	}
}
