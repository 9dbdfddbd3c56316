package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/projections/history"
)

func init() {
	register("export", "write events or node results for offline analysis: --since --until [--spell ID] --format jsonl|csv", cmdExport)
}

// parseTime reads RFC 3339, a date, or a duration back from now ("24h").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-26T10:00:00Z), a date (2026-11-26) or a duration ago (24h)", s)
}

func cmdExport(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	since := fs.String("since", "", "events committed at or after `TIME` (RFC 3339, YYYY-MM-DD, or a duration ago like 24h)")
	until := fs.String("until", "", "events committed before `TIME`")
	spell := fs.String("spell", "", "only the runs of spell `ID`")
	prefix := fs.String("stream-prefix", "", "only streams starting with `PREFIX`")
	format := fs.String("format", history.FormatJSONL, "jsonl or csv")
	what := fs.String("what", history.WhatEvents, "events (as stored) or nodes (one row per node result)")
	out := fs.String("out", "", "write to `FILE` instead of stdout")
	progress := fs.String("progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
	dataDir := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data; the server holding it is used)")
	var rf remoteFlags
	rf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire export [--since TIME] [--until TIME] [--spell ID] [--what events|nodes] --format jsonl|csv > FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	now := time.Now()
	opts := history.ExportOptions{SpellID: *spell, StreamPrefix: *prefix, Format: *format, What: *what}
	var err error
	if opts.Since, err = parseTime(*since, now); err != nil {
		return fail(env, &exitError{code: 2, err: fmt.Errorf("--since %w", err)})
	}
	if opts.Until, err = parseTime(*until, now); err != nil {
		return fail(env, &exitError{code: 2, err: fmt.Errorf("--until %w", err)})
	}
	showBar := *progress == "always" || (*progress == "auto" && isTerminal(env.stderr))
	if showBar {
		opts.Progress = progressBar(env.stderr, "export")
	}
	var log history.LogReader
	srv, err := rf.connect(ctx, env, *dataDir)
	if err != nil {
		return fail(env, err)
	}
	if srv != nil {
		log = remoteLog{srv}
	} else {
		rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataDir, NoProjections: true})
		if err != nil {
			return fail(env, err)
		}
		defer rt.Close()
		log = rt.Store
	}
	w := env.stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fail(env, err)
		}
		defer f.Close()
		w = f
	}
	begin := time.Now()
	st, err := history.Export(ctx, log, opts, w)
	if showBar {
		fmt.Fprintln(env.stderr)
	}
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.stderr, "exported %d %s (%d events scanned) in %s\n", st.Written, opts.What, st.Scanned, time.Since(begin).Round(time.Millisecond))
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "\rlabel [#####.....]  45%  12345/27000" on w.
func progressBar(w io.Writer, label string) func(done, total uint64) {
	return func(done, total uint64) {
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		fmt.Fprintf(w, "\r%s [%s%s] %3.0f%%  %d/%d", label, strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, done, total)
	}
}
