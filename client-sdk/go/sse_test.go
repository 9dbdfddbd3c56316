package grimoire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func decodeAll(t testing.TB, stream string) ([]sseMessage, *sseDecoder) {
	t.Helper()
	d := newSSEDecoder(strings.NewReader(stream))
	var out []sseMessage
	for i := 0; i < 1000; i++ {
		m, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, d
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, m)
	}
	t.Fatal("decoder did not end")
	return nil, nil
}

func TestSSEDecoder(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []sseMessage
		retry  time.Duration
	}{
		{"one event", "id: 1\nevent: node:end\ndata: {\"a\":1}\n\n",
			[]sseMessage{{ID: "1", Event: "node:end", Data: []byte(`{"a":1}`)}}, 0},
		{"multi-line data joined with LF", "data: first\ndata: second\ndata\n\n",
			[]sseMessage{{Event: "message", Data: []byte("first\nsecond\n")}}, 0},
		{"comments and keep-alives ignored", ": run r1\n\n: keep-alive\n\ndata: x\n\n",
			[]sseMessage{{Event: "message", Data: []byte("x")}}, 0},
		{"CRLF and lone CR line ends", "id: 7\r\nevent: e\rdata: y\r\n\r\n",
			[]sseMessage{{ID: "7", Event: "e", Data: []byte("y")}}, 0},
		{"only one leading space stripped", "data:  two\ndata:none\n\n",
			[]sseMessage{{Event: "message", Data: []byte(" two\nnone")}}, 0},
		{"id carries over to later events", "id: 3\ndata: a\n\ndata: b\n\n",
			[]sseMessage{{ID: "3", Event: "message", Data: []byte("a")}, {ID: "3", Event: "message", Data: []byte("b")}}, 0},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			[]sseMessage{{ID: "1", Event: "message", Data: []byte("a")}, {ID: "1", Event: "message", Data: []byte("b")}}, 0},
		{"event without data not dispatched, name reset", "event: x\n\ndata: z\n\n",
			[]sseMessage{{Event: "message", Data: []byte("z")}}, 0},
		{"retry sets delay, bad retry ignored", "retry: 1500\n\nretry: 2s\n\ndata: r\n\n",
			[]sseMessage{{Event: "message", Data: []byte("r")}}, 1500 * time.Millisecond},
		{"unfinished event at EOF dropped", "data: done\n\ndata: cut", []sseMessage{{Event: "message", Data: []byte("done")}}, 0},
		{"BOM stripped", "\xEF\xBB\xBFdata: bom\n\n", []sseMessage{{Event: "message", Data: []byte("bom")}}, 0},
		{"unknown fields ignored", "foo: bar\nevent: e\ndata: d\n\n", []sseMessage{{Event: "e", Data: []byte("d")}}, 0},
		{"empty stream", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := decodeAll(t, tt.stream)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %q, want %d %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID || got[i].Event != tt.want[i].Event || string(got[i].Data) != string(tt.want[i].Data) {
					t.Errorf("event %d = {%q %q %q}, want {%q %q %q}", i, got[i].ID, got[i].Event, got[i].Data,
						tt.want[i].ID, tt.want[i].Event, tt.want[i].Data)
				}
			}
			if d.Retry() != tt.retry {
				t.Errorf("retry = %v, want %v", d.Retry(), tt.retry)
			}
		})
	}
}

// A CR at the end of one read must not split CRLF into two line ends
// (which would dispatch the event early).
func TestSSEDecoderCRLFAcrossReads(t *testing.T) {
	r := &chunkReader{chunks: []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"}}
	d := newSSEDecoder(r)
	m, err := d.Next()
	if err != nil || string(m.Data) != "a\nb" {
		t.Fatalf("got %q, %v; want \"a\\nb\"", m.Data, err)
	}
}

type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func FuzzSSEDecoder(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: node:end\ndata: {}\n\n", "data: a\r\ndata: b\r\r", ": c\n\nretry: 10\n", "\xEF\xBB\xBFdata:\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := newSSEDecoder(strings.NewReader(s))
		for i := 0; ; i++ {
			m, err := d.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("error on in-memory input: %v", err)
				}
				return
			}
			if i > len(s) {
				t.Fatalf("more events (%d) than bytes (%d)", i, len(s))
			}
			if m.Event == "" {
				t.Fatal("dispatched event without a name")
			}
			if strings.ContainsAny(m.ID, "\x00\r\n") {
				t.Fatalf("id %q holds NUL or a line end", m.ID)
			}
		}
	})
}

func FuzzDecodeNDJSON(f *testing.F) {
	f.Add([]byte("{\"type\":\"run:start\",\"runId\":\"r\",\"seq\":1}\n\n{\"type\":\"node:end\",\"seq\":2}\n"))
	f.Add([]byte("{\"seq\":-1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := decodeNDJSON(strings.NewReader(string(b)))
		for _, e := range evs {
			if len(e.Raw) == 0 {
				t.Fatal("event without its raw form")
			}
		}
		_, _ = Replay(evs)
	})
}

// BenchmarkSSEDecoder decodes node:end events of the size the server sends.
func BenchmarkSSEDecoder(b *testing.B) {
	event := sseEvent("01M8BYTHDBR7QR3FFVNM99CJ57", 7, EventNodeEnd,
		`,"spellId":"demo","spellHash":"sha256:4178cdeca757617798b2552b2e52308171467a7a634a4935c0a040fa22717e57","nodeId":"greet","nodeType":"Text Template","activation":1,"outputs":{"output":"Hello, Ada!"},"fired":["trigger"],"durationMs":0.016,"cached":false,"time":"2026-11-26T12:55:55.568388974Z"`)
	stream := strings.Repeat(event, 1000)
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	events := 0
	for b.Loop() {
		d := newSSEDecoder(strings.NewReader(stream))
		for {
			m, err := d.Next()
			if err != nil {
				break
			}
			if _, err := decodeEvent(m.Data); err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
