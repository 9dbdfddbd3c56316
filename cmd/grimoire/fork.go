package main

import (
	"context"
	"encoding/json"
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
		return forkRemote(ctx, env, srv, fs.Arg(0), grimoire.ForkRequest{FromNode: *from, Inputs: inputs.values, NoCache: *noCache})
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
	run, err := rt.Executor.Start(ctx, spec)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.stderr, "run: %s (fork of %s from %s; recomputing %s)\n", run.ID(), plan.ParentRunID, plan.FromNode, strings.Join(plan.Recompute, ", "))
	out, err := run.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fail(env, err)
	}
	if err := outcomeError(out); err != nil {
		return fail(env, err)
	}
	if err := json.NewEncoder(env.stdout).Encode(nonNilMap(out.Outputs)); err != nil {
		return fail(env, err)
	}
	return 0
}
