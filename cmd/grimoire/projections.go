package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grimoire-run/grimoire/projections"
)

func init() {
	register("projections", "read models: projections status | projections rebuild NAME", cmdProjections)
}

func cmdProjections(ctx context.Context, env *cliEnv, args []string) int {
	usageLine := "usage: grimoire projections status [--json] | grimoire projections rebuild NAME"
	if len(args) == 0 || (args[0] != "status" && args[0] != "rebuild") {
		fmt.Fprintln(env.stderr, usageLine)
		if len(args) > 0 && isHelpFlag(args[0]) {
			fmt.Fprintln(env.stderr, "\nflags (status and rebuild):")
			return cmdProjections(ctx, env, []string{"status", "-h"})
		}
		if len(args) > 0 {
			fmt.Fprintf(env.stderr, "\ngrimoire projections: unknown subcommand %q\n", args[0])
		}
		return 2
	}
	fs := flag.NewFlagSet("projections "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	wait := fs.Duration("wait", 10*time.Second, "how long to let the read models catch up before reporting")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	if err := fs.Parse(reorderFlags(fs, args[1:])); err != nil {
		return 2
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	switch args[0] {
	case "status":
		if fs.NArg() != 0 {
			fmt.Fprintln(env.stderr, usageLine)
			return 2
		}
		return projectionsStatus(ctx, env, rt, *asJSON, *wait)
	case "rebuild":
		if fs.NArg() != 1 {
			fmt.Fprintln(env.stderr, usageLine)
			return 2
		}
		return projectionsRebuild(ctx, env, rt, fs.Arg(0), *asJSON)
	}
	fmt.Fprintln(env.stderr, usageLine)
	return 2
}

func projectionsStatus(ctx context.Context, env *cliEnv, rt *runtime, asJSON bool, wait time.Duration) int {
	st, err := rt.Projections.Status(ctx)
	if err != nil {
		return fail(env, err)
	}
	// Let the followed models catch up (bounded), so lag means something.
	wctx, cancel := context.WithTimeout(ctx, wait)
	for _, s := range st {
		_ = rt.Projections.CaughtUp(wctx, s.Name)
	}
	cancel()
	if st, err = rt.Projections.Status(ctx); err != nil {
		return fail(env, err)
	}
	head := uint64(0)
	for _, s := range st {
		head = max(head, s.Head)
	}
	if head == 0 {
		if head, err = lastPosition(ctx, rt.Store); err != nil {
			return fail(env, err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return 0
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCHECKPOINT\tHEAD\tLAG\tHEALTHY\tNOTE")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%v\t%s\n", s.Name, s.Checkpoint, s.Head, s.Lag, s.Healthy, s.LastError)
	}
	tw.Flush()
	return 0
}

func projectionsRebuild(ctx context.Context, env *cliEnv, rt *runtime, name string, asJSON bool) int {
	begin := time.Now()
	var applied uint64
	st, err := rt.Projections.Status(ctx)
	if err != nil {
		return fail(env, err)
	}
	handled := func() uint64 {
		now, _ := rt.Projections.Status(ctx)
		for _, s := range now {
			if s.Name == name {
				return s.Handled
			}
		}
		return 0
	}
	if !slices.ContainsFunc(st, func(s projections.Status) bool { return s.Name == name }) {
		names := make([]string, 0, len(st))
		for _, s := range st {
			names = append(names, s.Name)
		}
		return fail(env, fmt.Errorf("%w named %q (there are: %s)", projections.ErrNoProjection, name, strings.Join(names, ", ")))
	}
	// Let the start-up catch-up finish, so the count is the rebuild's.
	if err := rt.Projections.CaughtUp(ctx, name); err != nil {
		return fail(env, err)
	}
	before := handled()
	begin = time.Now()
	if err := rt.Projections.Rebuild(ctx, name); err != nil {
		return fail(env, err)
	}
	if err := rt.Projections.CaughtUp(ctx, name); err != nil {
		return fail(env, err)
	}
	applied = handled() - before
	took := time.Since(begin)
	rate := float64(applied) / max(took.Seconds(), 1e-9)
	if asJSON {
		json.NewEncoder(env.stdout).Encode(map[string]any{"projection": name, "events": applied, "seconds": took.Seconds(), "eventsPerSecond": rate})
		return 0
	}
	fmt.Fprintf(env.stdout, "rebuilt %s: %d events in %s (%.0f events/s)\n", name, applied, took.Round(time.Millisecond), rate)
	return 0
}
