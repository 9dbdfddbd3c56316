package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/server/protocol"
)

func recorded(t *testing.T, payload any) events.RecordedEvent {
	t.Helper()
	d := events.MustEncode(payload)
	return events.RecordedEvent{Stream: events.RunStream("r1"), Type: d.Type, SchemaVersion: d.SchemaVersion, Data: d.Data}
}

// run:start carries its inputs as an object, {} when the run has none
// (the log omits empty inputs).
func TestRunStartInputs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"none", nil, `{}`},
		{"empty", map[string]any{}, `{}`},
		{"some", map[string]any{"name": "Ada"}, `{"name":"Ada"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok, err := protocol.FromEvent(recorded(t, events.RunRequested{
				RunHeader: events.RunHeader{RunID: "r1", Seq: 1, SpellID: "demo"}, Inputs: tc.inputs,
			}))
			if err != nil || !ok {
				t.Fatalf("FromEvent: ok %v err %v", ok, err)
			}
			var got map[string]json.RawMessage
			b, _ := json.Marshal(m)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if string(got["inputs"]) != tc.want {
				t.Fatalf("run:start %s: inputs %s, want %s", b, got["inputs"], tc.want)
			}
		})
	}
}
