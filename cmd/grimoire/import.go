package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register("import", "save spell files (either format) into the spell library", cmdImport)
}

// cmdImport validates spell files and appends each as a new version to its
// spell's stream, owned by --user (nobody: any user may load and run it).
// An unchanged spell is not saved twice.
func cmdImport(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	data := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	user := fs.String("user", "", "the owner of new spells (empty: shared with every user)")
	check := fs.Bool("check", false, "save nothing: report which spell files (directories are searched for .json files) would run here, and the node types they use that Grimoire does not know")
	asJSON := fs.Bool("json", false, "with --check, print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire import SPELL.json|DIR... [--user NAME] [--data DIR]")
		fmt.Fprintln(env.stderr, "       grimoire import --check SPELL.json|DIR... [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorderFlags(fs, args)); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths, err := spellFiles(fs.Args())
	if err != nil {
		return fail(env, err)
	}
	if *check {
		return reportCompatibility(env, paths, *asJSON)
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *data, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	code := 0
	for _, path := range paths {
		spell, err := loadSpellFile(path, rt.Catalog)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s:\n%v\n", path, err)
			code = 1
			continue
		}
		v, err := rt.Library.Save(ctx, spell, *user)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: %v\n", path, err)
			code = 1
			continue
		}
		fmt.Fprintf(env.stdout, "%s: spell %s version %d %s\n", path, v.SpellID, v.Version, v.Hash)
	}
	return code
}
