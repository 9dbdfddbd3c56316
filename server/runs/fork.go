package runs

import "github.com/grimoire-run/grimoire/projections/history"

// SourceFork is the Source of a forked run.
const SourceFork = history.SourceFork

// ForkSpec is the request that starts a planned fork: the parent's spell
// version and inputs (with any overrides), the parent's results of every
// node upstream of the fork point replayed, and the origin recorded.
func ForkSpec(plan *history.Fork, runID, user string) RunSpec {
	return RunSpec{
		RunID: runID, Program: plan.Program, Inputs: plan.Inputs, InputOrder: plan.InputOrder, Entry: plan.Entry,
		User: user, Source: SourceFork, ParentRunID: plan.ParentRunID,
		Recorded: plan.Recorded, ForkOf: &ForkOrigin{RunID: plan.ParentRunID, NodeID: plan.FromNode},
		AllowExtraInputs: true,
	}
}
