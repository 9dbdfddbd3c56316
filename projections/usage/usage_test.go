package usage_test

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/internal/projtest"
	"github.com/grimoire-run/grimoire/projections/usage"
)

var day1 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func run(runID, spell, user string, at time.Time, usages ...events.Usage) []events.EventData {
	seq := uint64(0)
	h := func() events.RunHeader {
		seq++
		return events.RunHeader{RunID: runID, Seq: seq, SpellID: spell, Time: at.Add(time.Duration(seq) * time.Second)}
	}
	evs := []events.EventData{events.MustEncode(&events.RunRequested{RunHeader: h(), User: user})}
	for i, u := range usages {
		u := u
		ref := events.NodeRef{NodeID: string(rune('a' + i)), NodeType: "LLM", Activation: 1}
		evs = append(evs, events.MustEncode(&events.NodeStarted{RunHeader: h(), NodeRef: ref}),
			events.MustEncode(&events.NodeCompleted{RunHeader: h(), NodeRef: ref, Outputs: map[string]any{"text": "x"}, Usage: &u}))
	}
	evs = append(evs, events.MustEncode(&events.NodeCompleted{RunHeader: h(), NodeRef: events.NodeRef{NodeID: "plain", Activation: 1}}),
		events.MustEncode(&events.RunCompleted{RunHeader: h()}))
	return evs
}

func TestUsageSumsTokensAndCostPerUserSpellAndModel(t *testing.T) {
	ctx := context.Background()
	st := projtest.OpenStore(t)
	gpt := events.Usage{Model: "gpt", PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150, Calls: 1}
	llama := events.Usage{Model: "llama", PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, Calls: 1}
	for id, evs := range map[string][]events.EventData{
		"r1": run("r1", "s1", "ann", day1, gpt, llama),
		"r2": run("r2", "s1", "bob", day1, gpt),
		"r3": run("r3", "s2", "ann", day1.Add(48*time.Hour), gpt, gpt),
	} {
		if _, err := st.Append(ctx, events.RunStream(id), events.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	m, err := usage.Open(usage.Options{Dir: dir, Prices: map[string]usage.Price{"gpt": {PromptPerMTok: 2, CompletionPerMTok: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	r := projtest.Start(t, st, m)
	projtest.CaughtUp(t, r, "usage")

	gptCost := (100*2 + 50*8) / 1e6
	tests := []struct {
		name  string
		q     usage.Query
		want  []usage.Row
		total int64
	}{
		{"per user", usage.Query{GroupBy: []string{usage.ByUser}}, []usage.Row{
			{User: "ann", Totals: usage.Totals{Calls: 4, PromptTokens: 310, CompletionTokens: 155, TotalTokens: 465, Nodes: 4}, CostUSD: 3 * gptCost},
			{User: "bob", Totals: usage.Totals{Calls: 1, PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150, Nodes: 1}, CostUSD: gptCost},
		}, 615},
		{"per spell and model for ann", usage.Query{User: "ann", GroupBy: []string{usage.BySpell, usage.ByModel}}, []usage.Row{
			{SpellID: "s1", Model: "gpt", Totals: usage.Totals{Calls: 1, PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150, Nodes: 1}, CostUSD: gptCost},
			{SpellID: "s1", Model: "llama", Totals: usage.Totals{Calls: 1, PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, Nodes: 1}},
			{SpellID: "s2", Model: "gpt", Totals: usage.Totals{Calls: 2, PromptTokens: 200, CompletionTokens: 100, TotalTokens: 300, Nodes: 2}, CostUSD: 2 * gptCost},
		}, 465},
		{"first day only", usage.Query{Since: day1.Truncate(24 * time.Hour), Until: day1.Add(24 * time.Hour)}, []usage.Row{
			{Totals: usage.Totals{Calls: 3, PromptTokens: 210, CompletionTokens: 105, TotalTokens: 315, Nodes: 3}, CostUSD: 2 * gptCost},
		}, 315},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := m.Report(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rows) != len(tt.want) {
				t.Fatalf("rows %+v, want %+v", rep.Rows, tt.want)
			}
			for i := range tt.want {
				got, want := rep.Rows[i], tt.want[i]
				if math.Abs(got.CostUSD-want.CostUSD) > 1e-12 {
					t.Errorf("row %d cost %v, want %v", i, got.CostUSD, want.CostUSD)
				}
				got.CostUSD, want.CostUSD = 0, 0
				if got != want {
					t.Errorf("row %d = %+v, want %+v", i, got, want)
				}
			}
			if rep.Total.TotalTokens != tt.total {
				t.Errorf("total tokens %d, want %d", rep.Total.TotalTokens, tt.total)
			}
			if len(rep.Unpriced) != 1 && tt.q.User == "ann" && tt.q.Since.IsZero() {
				t.Errorf("unpriced %v, want [llama]", rep.Unpriced)
			}
		})
	}
	if _, err := m.Report(usage.Query{GroupBy: []string{"colour"}}); err == nil {
		t.Error("an unknown group-by was accepted")
	}

	// Idempotent: the whole log again changes nothing; a rebuild gives the
	// same report; the snapshot survives a restart.
	before, _ := m.Report(usage.Query{GroupBy: []string{usage.ByUser, usage.BySpell, usage.ByModel, usage.ByDay}})
	all, _ := st.ReadAll(ctx, 0, 0)
	for _, e := range all {
		if err := m.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	same := func(label string, m *usage.Model) {
		t.Helper()
		after, _ := m.Report(usage.Query{GroupBy: []string{usage.ByUser, usage.BySpell, usage.ByModel, usage.ByDay}})
		if len(after.Rows) != len(before.Rows) || after.Total != before.Total {
			t.Errorf("%s: report changed: %+v -> %+v", label, before, after)
		}
	}
	same("events seen twice", m)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Rebuild(wctx, "usage"); err != nil {
		t.Fatal(err)
	}
	projtest.CaughtUp(t, r, "usage")
	same("rebuilt", m)
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := usage.Open(usage.Options{Dir: dir, Prices: map[string]usage.Price{"gpt": {PromptPerMTok: 2, CompletionPerMTok: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	same("reopened from its snapshot", again)
}

func TestLoadPricesReadsATableByModel(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/prices.json"
	if err := os.WriteFile(path, []byte(`{"gpt-4o": {"promptPerMTok": 2.5, "completionPerMTok": 10}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := usage.LoadPrices(path)
	if err != nil || p["gpt-4o"] != (usage.Price{PromptPerMTok: 2.5, CompletionPerMTok: 10}) {
		t.Errorf("LoadPrices = %v, %v", p, err)
	}
	if err := os.WriteFile(path, []byte(`[1]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := usage.LoadPrices(path); err == nil {
		t.Error("a price table that is not an object was accepted")
	}
}
