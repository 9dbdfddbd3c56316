package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
)

func init() {
	register("run", "run a spell locally and print its outputs as JSON", cmdRun)
}

// inputFlags collects repeated --input NAME=VALUE, keeping their order.
type inputFlags struct {
	values map[string]any
	order  []string
}

func (f *inputFlags) String() string { return "" }

func (f *inputFlags) Set(s string) error {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	f.add(name, parseInputValue(raw))
	return nil
}

func (f *inputFlags) add(name string, v any) {
	if f.values == nil {
		f.values = map[string]any{}
	}
	if _, seen := f.values[name]; !seen {
		f.order = append(f.order, name)
	}
	f.values[name] = v
}

// parseInputValue reads a JSON value when VALUE is one (42, true, {"a":1},
// "quoted"), and takes it as a plain string otherwise.
func parseInputValue(raw string) any {
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err == nil {
		return v
	}
	return raw
}

// readInputsJSON reads a JSON object of inputs, keeping its key order.
func readInputsJSON(path string, into *inputFlags) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%s: inputs must be a JSON object keyed by Input name", path)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: input %v: %w", path, k, err)
		}
		into.add(k.(string), v)
	}
	return nil
}

func cmdRun(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var inputs inputFlags
	fs.Var(&inputs, "input", "run input `NAME=VALUE` (repeatable; VALUE is JSON or a plain string)")
	inputsJSON := fs.String("inputs-json", "", "read inputs from a JSON object `FILE`")
	spellsDir := fs.String("spells", "", "`DIR` where Spell nodes find sub-spells, by name or id")
	entry := fs.String("entry", "", "start at this node id or Trigger In / Input name")
	dataDir := fs.String("data", "", "data `DIR` for the run's history (env GRIMOIRE_DATA, default ./data)")
	noCache := fs.Bool("no-cache", false, "run every node, even those whose result the node-output cache holds")
	allowExtra := fs.Bool("allow-extra-inputs", false, "accept inputs that no Input node reads (refused by default: usually a typo)")
	devLLM := fs.Bool("dev-llm", false, "start a development stand-in for the model endpoint (grimoire dev-llm) and use it")
	var dev devLLMFlags
	dev.register(fs, "dev-llm-")
	var rf remoteFlags
	rf.register(fs)
	follow := fs.Bool("follow", isTerminal(env.stderr), "show each node as it starts and ends, and streamed tokens, on stderr (default on a terminal)")
	asJSON := fs.Bool("json", false, "print every run event as a JSON line on stdout (docs/protocol.md), the last one the run's end")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire run SPELL.json [--input NAME=VALUE]... [--inputs-json FILE] [--spells DIR] [--server URL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return 2
	}
	switch {
	case fs.NArg() == 0:
		return usageError(env, fs, "name the spell file to run")
	case fs.NArg() > 1:
		extra := fs.Args()[1:]
		if strings.Contains(extra[0], "=") {
			return usageError(env, fs, "unexpected argument %q: pass inputs as --input %s", extra[0], extra[0])
		}
		return usageError(env, fs, "one spell file at a time; unexpected %q", extra)
	}
	if *inputsJSON != "" {
		if err := readInputsJSON(*inputsJSON, &inputs); err != nil {
			return fail(env, err)
		}
	}
	srv, err := rf.connect(ctx, env, *dataDir)
	if err != nil {
		return fail(env, err)
	}
	if srv != nil {
		if err := localOnly(srv, "--spells", *spellsDir != "", "save sub-spells on the server first (grimoire spells put FILE)"); err != nil {
			return fail(env, err)
		}
		if *devLLM {
			fmt.Fprintln(env.stderr, "grimoire: --dev-llm ignored: the server runs model nodes with its own endpoint (`make run` starts it with --dev-llm)")
		}
		var opts []grimoire.RunOption
		if *entry != "" {
			opts = append(opts, grimoire.WithEntry(*entry))
		}
		if *noCache {
			opts = append(opts, grimoire.WithoutCache())
		}
		if *allowExtra {
			opts = append(opts, grimoire.WithExtraInputs())
		}
		return runRemote(ctx, env, srv, fs.Arg(0), inputs, opts, watchFlags(env, *follow, *asJSON))
	}
	if *devLLM {
		devEnv, stop, err := dev.withDevLLM(env)
		if err != nil {
			return fail(env, err)
		}
		defer stop()
		env = devEnv
	}
	ro := runtimeOptions{DataDir: *dataDir, NoProjections: true}
	if *follow || *asJSON {
		ro.Linger = serveLinger // events shown as they happen: append them sooner
	}
	rt, err := openRuntime(ctx, env, ro)
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	spell, err := loadSpellFile(fs.Arg(0), rt.Catalog)
	if err != nil {
		return fail(env, err)
	}
	if spell.ID == "" {
		// Its history is kept under the file's name.
		spell.ID = strings.TrimSuffix(filepath.Base(fs.Arg(0)), filepath.Ext(fs.Arg(0)))
	}
	if *spellsDir != "" {
		rt.Runner.Spells = spellSources{&dirSpells{dir: *spellsDir}, rt.Library}
	}
	return startAndWait(ctx, env, rt, watchFlags(env, *follow, *asJSON), "", runs.RunSpec{
		Spell: spell, Inputs: nonNilMap(inputs.values), InputOrder: inputs.order, Entry: *entry, Source: "cli", NoCache: *noCache,
		AllowExtraInputs: *allowExtra,
	})
}

// watchFlags is the progress --follow and --json ask for (nil: none).
func watchFlags(env *cliEnv, follow, asJSON bool) *progress {
	if !follow && !asJSON {
		return nil
	}
	return newProgress(env, asJSON)
}

// startAndWait starts a run in this process, shows it with p (when not
// nil), waits for its end and prints its outputs (unless p prints JSON
// events: their last one holds them).
func startAndWait(ctx context.Context, env *cliEnv, rt *runtime, p *progress, note string, spec runs.RunSpec) int {
	var run *runs.Run
	start := func() (string, error) {
		var err error
		if run, err = rt.Executor.Start(ctx, spec); err != nil {
			return "", err
		}
		fmt.Fprintf(env.stderr, "run: %s%s\n", run.ID(), note)
		return run.ID(), nil
	}
	stopWatching := func() {}
	if p != nil {
		_, wait, err := followLocal(ctx, rt.Bus, p, start)
		if err != nil {
			return fail(env, err)
		}
		stopWatching = wait
	} else if _, err := start(); err != nil {
		return fail(env, err)
	}
	out, err := run.Wait(context.WithoutCancel(ctx))
	stopWatching()
	if err != nil {
		return fail(env, err)
	}
	if err := outcomeError(out); err != nil {
		return fail(env, err)
	}
	if p != nil && p.enc != nil {
		return 0
	}
	enc := json.NewEncoder(env.stdout)
	if err := enc.Encode(nonNilMap(out.Outputs)); err != nil {
		return fail(env, err)
	}
	return 0
}

// outcomeError turns a run that did not complete into the error a user
// reads: which node failed and why, or why the run stopped.
func outcomeError(out *runs.Outcome) error {
	switch out.Status {
	case runs.StatusCompleted:
		return nil
	case runs.StatusFailed:
		if out.NodeID != "" && !strings.Contains(out.Error, out.NodeID) {
			return fmt.Errorf("run %s failed at node %s: %s", out.RunID, out.NodeID, out.Error)
		}
		return fmt.Errorf("run %s failed: %s", out.RunID, out.Error)
	case runs.StatusCancelled:
		return fmt.Errorf("run %s cancelled: %s", out.RunID, out.Reason)
	case runs.StatusWaiting:
		return fmt.Errorf("run %s waits for an answer (see its RunWaiting event); `grimoire answer %s NODE_ID VALUE` (or POST /v1/runs/%s/answers) continues it", out.RunID, out.RunID, out.RunID)
	default:
		msg := fmt.Sprintf("run %s stopped before it finished (%s); `grimoire resume` continues it", out.RunID, out.Status)
		if out.RecordErr != nil {
			msg += ": " + out.RecordErr.Error()
		}
		return errors.New(msg)
	}
}

// spellSources looks a sub-spell up in each source in turn.
type spellSources []graph.SpellSource

func (ss spellSources) LoadSpell(ctx context.Context, user, ref string) (*graph.Spell, error) {
	var errs []error
	for _, s := range ss {
		sp, err := s.LoadSpell(ctx, user, ref)
		if err == nil {
			return sp, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// reorderFlags lets flags follow the positional argument
// (grimoire run spell.json --input a=1), as users type them.
func reorderFlags(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, pos...)
}

// dirSpells finds sub-spells in a folder by spell id, spell name or file name.
type dirSpells struct {
	dir   string
	once  sync.Once
	index map[string]*graph.Spell
	err   error
}

// The folder is the caller's own: it has no owners.
func (d *dirSpells) LoadSpell(_ context.Context, _, ref string) (*graph.Spell, error) {
	d.once.Do(d.load)
	if d.err != nil {
		return nil, d.err
	}
	if s, ok := d.index[ref]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("spell %q not found in %s (looked up by id, name and file name)", ref, d.dir)
}

func (d *dirSpells) load() {
	d.index = map[string]*graph.Spell{}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		d.err = fmt.Errorf("spells folder: %w", err)
		return
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(d.dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s, _, err := graph.ParseSpell(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		for _, key := range []string{s.ID, s.Name, strings.TrimSuffix(e.Name(), ".json")} {
			if key != "" {
				if _, taken := d.index[key]; !taken {
					d.index[key] = s
				}
			}
		}
	}
	if len(d.index) == 0 && len(errs) > 0 {
		d.err = errors.Join(errs...)
	}
}
