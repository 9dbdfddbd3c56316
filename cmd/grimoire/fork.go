package main

import (
	"context"
	"flag"
	"fmt"
	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
	"strings"

	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/server/runs"
)

func init() {
	register("fork", "re-run a recorded run from a node (which always runs again), reusing everything upstream: fork RUN_ID --from NODE_ID [--input NAME=VALUE] [--no-cache]", cmdFork)
}

func cmdFork(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("fork", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var inputs inputFlags
	from := fs.String("from", "", "recompute from this node `ID` (and everything downstream of it)")
	fs.Var(&inputs, "input", "override run input `NAME=VALUE` (repeatable); nodes reading it are recomputed")
	noCache := fs.Bool("no-cache", false, "take nothing from the node-output cache (the fork's node and everything downstream of it always run)")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	var rf remoteFlags
	rf.register(fs)
	follow := fs.Bool("follow", isTerminal(env.stderr), "show each node as it starts and ends, and streamed tokens, on stderr (default on a terminal)")
	asJSON := fs.Bool("json", false, "print every run event as a JSON line on stdout (docs/protocol.md), the last one the run's end")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire fork RUN_ID --from NODE_ID [--input NAME=VALUE]... [--no-cache]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *from == "" {
		fs.Usage()
		return 2
	}
	srv, err := rf.connect(ctx, env, *dataDir)
	if err != nil {
		return fail(env, err)
	}
	if srv != nil {
		return forkRemote(ctx, env, srv, fs.Arg(0), grimoire.ForkRequest{FromNode: *from, Inputs: inputs.values, NoCache: *noCache}, watchFlags(env, *follow, *asJSON))
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	plan, err := history.PlanFork(ctx, rt.Store, rt.Runner, rt.loadSpellVersion, history.ForkRequest{
		ParentRunID: fs.Arg(0), FromNode: *from, Inputs: inputs.values})
	if err != nil {
		return fail(env, err)
	}
	spec := runs.ForkSpec(plan, "", "")
	spec.NoCache = *noCache
	note := fmt.Sprintf(" (fork of %s from %s; recomputing %s)", plan.ParentRunID, plan.FromNode, strings.Join(plan.Recompute, ", "))
	return startAndWait(ctx, env, rt, watchFlags(env, *follow, *asJSON), note, spec)
}
