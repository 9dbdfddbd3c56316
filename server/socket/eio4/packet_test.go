package eio4

import (
	"encoding/json"
	"testing"

	"github.com/zishang520/socket.io-go-parser/v2/parser"

	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// WritePacket bypasses the library's Socket.Emit: the packet it writes must
// be the bytes the library's encoder would have sent for the same event.
func TestEventPacketIsWhatTheLibrarySends(t *testing.T) {
	payloads := []any{
		nil,
		map[string]any{"type": "node:end", "seq": 3, "outputs": map[string]any{"text": "<b>&amp;</b> \u2028 ünïcode \"q\""}},
		[]any{1, "two", nil, true},
		"plain string",
		42.5,
	}
	for _, p := range payloads {
		var raw json.RawMessage
		args := []any{"node:end"}
		if p != nil {
			var err error
			if raw, err = json.Marshal(p); err != nil {
				t.Fatal(err)
			}
			args = append(args, raw)
		}
		got, err := wire.EventPacket("node:end", raw)
		if err != nil {
			t.Fatal(err)
		}
		enc := parser.NewEncoder().Encode(&parser.Packet{Type: parser.EVENT, Nsp: "/", Data: args})
		if len(enc) != 1 {
			t.Fatalf("library encoded %d buffers for %v, want 1", len(enc), p)
		}
		if want := enc[0].String(); string(got) != want {
			t.Errorf("payload %v:\n got  %s\n want %s", p, got, want)
		}
	}
}
