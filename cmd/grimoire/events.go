package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/projections/retention"
)

func init() {
	register("events", "the global event log: events tail [--stream-prefix run-] [--from POSITION] | events prune", cmdEvents)
}

// stringList collects a repeatable, comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func cmdEvents(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) > 0 && args[0] == "prune" {
		return cmdEventsPrune(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(env.stderr, "usage: grimoire events tail [--stream-prefix run-] [--type T] [--from POSITION] [--no-follow] [--json]")
		fmt.Fprintln(env.stderr, "       grimoire events prune --chunks-older-than 30d [--dry-run]   (docs/retention.md)")
		if len(args) > 0 && isHelpFlag(args[0]) {
			fmt.Fprintln(env.stderr, "\nevents tail flags:")
			cmdEvents(ctx, env, []string{"tail", "-h"})
			fmt.Fprintln(env.stderr, "\nevents prune flags:")
			cmdEventsPrune(ctx, env, []string{"-h"})
		} else if len(args) > 0 {
			fmt.Fprintf(env.stderr, "\ngrimoire events: unknown subcommand %q\n", args[0])
		}
		return 2
	}
	fs := flag.NewFlagSet("events tail", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var prefixes, types stringList
	fs.Var(&prefixes, "stream-prefix", "only streams starting with `PREFIX` (repeatable or comma-separated)")
	fs.Var(&types, "type", "only events of `TYPE` (repeatable or comma-separated)")
	from := fs.Uint64("from", 0, "start at log `POSITION` (inclusive; 0 or 1: the beginning); without it, the last 10 events and then new ones")
	noFollow := fs.Bool("no-follow", false, "print what the log holds and exit instead of following it")
	limit := fs.Int("limit", 0, "exit after `N` events (0: no limit)")
	asJSON := fs.Bool("json", false, "print each event as a JSON line")
	width := fs.Int("width", 80, "cut event data to this many characters (0: whole)")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	var rf remoteFlags
	rf.register(fs)
	if err := fs.Parse(reorderFlags(fs, args[1:])); err != nil {
		return 2
	}
	fromSet := false
	fs.Visit(func(f *flag.Flag) { fromSet = fromSet || f.Name == "from" })
	srv, err := rf.connect(ctx, env, *dataDir)
	if err != nil {
		return fail(env, err)
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	print := func(e events.RecordedEvent) error {
		if *asJSON {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintf(env.stdout, "%d\t%s\t%s@%d\t%s\t%s\n", e.Position, e.Time.UTC().Format("15:04:05.000"), e.Stream, e.Revision, e.Type, history.Cut(e.Data, *width))
		return err
	}
	if srv != nil {
		q := grimoire.LogQuery{From: *from, StreamPrefixes: prefixes, Types: types, Limit: *limit, Follow: !*noFollow}
		if !fromSet {
			q.Tail = 10
		}
		err := srv.Log(ctx, q, func(e grimoire.LogEvent) error {
			return print(events.RecordedEvent{Stream: e.Stream, Revision: e.Revision, Position: e.Position, ID: e.ID, Type: e.Type,
				SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata, Time: e.Time})
		})
		if err != nil && ctx.Err() == nil {
			return fail(env, err)
		}
		return 0
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	opts := events.SubscribeOptions{StreamPrefixes: prefixes, EventTypes: types}
	if fromSet {
		opts.After = max(*from, 1) - 1
	} else {
		head, err := lastPosition(ctx, rt.Store)
		if err != nil {
			return fail(env, err)
		}
		opts.After = head - min(head, 10)
	}
	n := 0
	printLocal := print
	print = func(e events.RecordedEvent) error { n++; return printLocal(e) }
	if *noFollow {
		for next := opts.After + 1; ; {
			recs, err := rt.Store.ReadAll(ctx, next, 1024)
			if err != nil {
				return fail(env, err)
			}
			for _, e := range recs {
				if !opts.Matches(e) {
					continue
				}
				if err := print(e); err != nil {
					return fail(env, err)
				}
				if *limit > 0 && n >= *limit {
					return 0
				}
			}
			if len(recs) < 1024 {
				return 0
			}
			next = recs[len(recs)-1].Position + 1
		}
	}
	sub, err := rt.Store.Subscribe(ctx, opts)
	if err != nil {
		return fail(env, err)
	}
	defer sub.Close()
	for {
		e, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return 0 // interrupted: the normal end of a tail
			}
			return fail(env, err)
		}
		if err := print(e); err != nil {
			return fail(env, err)
		}
		if *limit > 0 && n >= *limit {
			return 0
		}
	}
}

// lastPosition is the log's head.
func lastPosition(ctx context.Context, store events.Store) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return projections.Head(ctx, store)
}

// parseAge reads a duration that may be in days ("30d") as well as Go's
// units ("36h").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a number of days like 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration like 30d or 36h", s)
	}
	return dur, nil
}

// cmdEventsPrune applies the retention policy (docs/retention.md).
func cmdEventsPrune(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("events prune", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	older := fs.String("chunks-older-than", "", "drop the token chunks of runs that ended more than `AGE` ago (30d, 36h)")
	dry := fs.Bool("dry-run", false, "count what would be dropped, drop nothing")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *older == "" {
		fmt.Fprintln(env.stderr, "usage: grimoire events prune --chunks-older-than 30d [--dry-run]")
		return 2
	}
	age, err := parseAge(*older)
	if err != nil {
		return fail(env, &exitError{code: 2, err: fmt.Errorf("--chunks-older-than %w", err)})
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	if err := rt.Projections.CaughtUp(ctx, "runs"); err != nil {
		return fail(env, err)
	}
	rep, err := retention.Apply(ctx, rt.Store, rt.Runs, retention.Policy{ChunksOlderThan: age, DryRun: *dry})
	if err != nil {
		return fail(env, err)
	}
	verb := "dropped"
	if rep.DryRun {
		verb = "would drop"
	}
	fmt.Fprintf(env.stdout, "%s %d token-chunk events of %d runs (of %d finished runs that ended before %s)\n",
		verb, rep.Dropped, rep.Pruned, rep.Runs, rep.Cutoff.Format(time.RFC3339))
	return 0
}
