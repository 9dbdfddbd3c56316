package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	register("validate", "check spell files; print ok or every problem (exit 1 on error)", cmdValidate)
}

func cmdValidate(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per file: {file, ok, problems: [{nodeId, port, field, message}], error}")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire validate SPELL.json [SPELL.json...] [--json]")
		fmt.Fprintln(env.stderr, "       grimoire validate DIR...   (a compatibility report over every .json file in DIR, as import --check)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	for _, arg := range fs.Args() {
		if info, err := os.Stat(arg); err == nil && info.IsDir() {
			paths, err := spellFiles(fs.Args())
			if err != nil {
				return fail(env, err)
			}
			return reportCompatibility(env, paths, *asJSON)
		}
	}
	catalog := newCatalog(env)
	code := 0
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	for _, path := range fs.Args() {
		if *asJSON {
			if !validateJSON(enc, path, catalog) {
				code = 1
			}
			continue
		}
		if _, err := loadSpellFile(path, catalog); err != nil {
			fmt.Fprintf(env.stdout, "%s:\n%v\n", path, err)
			code = 1
			continue
		}
		if fs.NArg() > 1 {
			fmt.Fprintf(env.stdout, "%s: ok\n", path)
		} else {
			fmt.Fprintln(env.stdout, "ok")
		}
	}
	return code
}

// validation is one file's result in validate --json.
type validation struct {
	File     string          `json:"file"`
	OK       bool            `json:"ok"`
	Problems []graph.Problem `json:"problems,omitempty"`
	// Error is a problem that is not a node's: the file does not read or
	// parse.
	Error string `json:"error,omitempty"`
}

func validateJSON(enc *json.Encoder, path string, catalog graph.Catalog) bool {
	v := validation{File: path, OK: true}
	if _, err := loadSpellFile(path, catalog); err != nil {
		v.OK = false
		var ve *graph.ValidationError
		if errors.As(err, &ve) {
			v.Problems = ve.Problems
		} else {
			v.Error = err.Error()
		}
	}
	_ = enc.Encode(v)
	return v.OK
}

// loadSpellFile reads, parses (either format) and validates a spell file.
func loadSpellFile(path string, catalog graph.Catalog) (*graph.Spell, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, _, err := graph.ParseSpell(data)
	if err != nil {
		return nil, err
	}
	if err := graph.Validate(s, catalog); err != nil {
		return nil, err
	}
	return s, nil
}

// reportCompatibility prints the compatibility report of paths; it exits
// 1 when any file would not run.
func reportCompatibility(env *cliEnv, paths []string, asJSON bool) int {
	if len(paths) == 0 {
		fmt.Fprintln(env.stderr, "no .json spell files found")
		return 1
	}
	rep := checkSpells(paths, newCatalog(env))
	if err := rep.write(env.stdout, asJSON); err != nil {
		return fail(env, err)
	}
	if rep.Failed > 0 {
		return 1
	}
	return 0
}
