package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections/history"
)

func init() {
	register("replay", "print a recorded run's timeline (--json: its events; --verify: re-execute and compare)", cmdReplay)
}

func cmdReplay(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print the run's events as JSON lines instead of the timeline")
	verify := fs.Bool("verify", false, "re-execute the run with non-deterministic nodes fed from the recording and check every output")
	width := fs.Int("width", 60, "cut outputs to this many characters (0: whole)")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	var rf remoteFlags
	rf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire replay RUN_ID [--json] [--verify] [--width N] [--server URL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	runID := fs.Arg(0)
	srv, err := rf.connect(ctx, env, *dataDir)
	if err != nil {
		return fail(env, err)
	}
	if srv != nil {
		if err := localOnly(srv, "--verify", *verify, "stop the server, or run `grimoire replay --verify` where its data directory is free"); err != nil {
			return fail(env, err)
		}
		return replayRemote(ctx, env, srv, runID, *asJSON, *width)
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()

	if *verify {
		rep, err := history.Verify(ctx, rt.Store, rt.Runner, rt.loadSpellVersion, runID)
		if err != nil {
			return fail(env, err)
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetEscapeHTML(false)
			enc.Encode(rep)
		} else {
			fmt.Fprintf(env.stdout, "run %s: %d activations re-executed, %d fed from the recording, %d compared\n", runID, rep.Executed, rep.Replayed, rep.Compared)
			for _, m := range rep.Mismatches {
				fmt.Fprintf(env.stdout, "  MISMATCH %s#%d (%s): %s\n    recorded %s\n    got      %s\n", m.NodeID, m.Activation, m.NodeType, m.Problem,
					history.Cut(m.Recorded, *width), history.Cut(m.Got, *width))
			}
			if rep.OutputsMatch {
				fmt.Fprintln(env.stdout, "outputs: same as recorded")
			} else {
				fmt.Fprintf(env.stdout, "outputs: DIFFER\n  recorded %s\n  got      %s\n", history.Cut(rep.RecordedOutputs, *width), history.Cut(rep.Outputs, *width))
			}
		}
		if !rep.OK {
			return fail(env, &exitError{code: 1, err: fmt.Errorf("run %s does not replay to the same outputs", runID)})
		}
		if !*asJSON {
			fmt.Fprintln(env.stdout, "verified: the graph reaches the recorded outputs")
		}
		return 0
	}

	if *asJSON {
		evs, err := history.ReadRun(ctx, rt.Store, runID)
		if err != nil {
			return fail(env, err)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetEscapeHTML(false)
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return fail(env, err)
			}
		}
		return 0
	}
	tl, err := history.LoadTimeline(ctx, rt.Store, runID)
	if err != nil {
		return fail(env, err)
	}
	printTimeline(env, tl, *width)
	return 0
}

func printTimeline(env *cliEnv, tl *history.Timeline, width int) {
	fmt.Fprintf(env.stdout, "run %s  spell %s  status %s", tl.RunID, tl.SpellID, tl.Status)
	if tl.User != "" {
		fmt.Fprintf(env.stdout, "  user %s", tl.User)
	}
	if tl.ParentRunID != "" {
		fmt.Fprintf(env.stdout, "  parent %s", tl.ParentRunID)
	}
	fmt.Fprintf(env.stdout, "\nstarted %s  duration %s  events %d\n", tl.Started.Format(time.RFC3339), round(tl.Duration), tl.Events)
	if tl.Error != "" {
		fmt.Fprintf(env.stdout, "error: %s\n", tl.Error)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTYPE\tSTATUS\tSTART\tDURATION\tOUTPUTS")
	for _, s := range tl.Steps {
		id := s.NodeID
		if s.Activation > 1 {
			id = fmt.Sprintf("%s#%d", s.NodeID, s.Activation)
		}
		for i := len(s.Path) - 1; i >= 0; i-- {
			id = s.Path[i] + "/" + id
		}
		status := s.Status
		if s.Source != "" {
			status += " (" + s.Source + ")"
		}
		out := history.Cut(s.Outputs, width)
		switch {
		case s.Error != "":
			out = "error: " + history.Cut(s.Error, width)
		case s.Reason != "":
			out = history.Cut(s.Reason, width)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t+%s\t%s\t%s\n", id, s.NodeType, status, round(s.Start), round(s.Duration), out)
	}
	tw.Flush()
	if len(tl.Outputs) > 0 {
		fmt.Fprintf(env.stdout, "outputs: %s\n", history.Cut(tl.Outputs, 0))
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// loadSpellVersion loads the spell version a run recorded, by hash.
func (rt *runtime) loadSpellVersion(ctx context.Context, spellID, hash string) (*graph.Spell, error) {
	s, _, err := rt.Library.GetVersion(ctx, spellID, hash)
	return s, err
}
