package runs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// BenchmarkSpellStateAfterManyWrites is what a run (or GET
// /v1/spells/{id}/state) pays to see a spell's state whose stream holds
// writes: each sets one key of a small state.
func BenchmarkSpellStateAfterManyWrites(b *testing.B) {
	for _, writes := range []int{100, 10000} {
		b.Run(fmt.Sprintf("writes=%d", writes), func(b *testing.B) {
			ctx := context.Background()
			st := openStore(b, b.TempDir())
			defer st.Close()
			ex := newExecutor(b, st, nodes.NewRegistry(nodes.Services{}))
			spell := visitsSpell()
			stream := events.StateStream(spell.ID, "ada")
			batch := make([]events.EventData, 0, 500)
			for i := range writes {
				ops, _ := json.Marshal([]graph.StateOp{{Op: graph.StateSet, Key: fmt.Sprintf("k%d", i%16), Value: float64(i)}})
				ev, err := events.Encode(&events.StateWritten{SpellID: spell.ID, Owner: "ada", RunID: "r", NodeID: "w", Activation: i + 1, Ops: ops})
				if err != nil {
					b.Fatal(err)
				}
				if batch = append(batch, ev); len(batch) == cap(batch) || i == writes-1 {
					if _, err := st.Append(ctx, stream, events.Any, batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			b.ResetTimer()
			for range b.N {
				state, err := ex.SpellState(ctx, spell, "ada")
				if err != nil || state["k15"] == nil {
					b.Fatalf("state %v, %v", state, err)
				}
			}
		})
	}
}
