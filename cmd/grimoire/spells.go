package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register("spells", "a server's spell library: spells list | put FILE [--id ID] | get ID", cmdSpells)
}

const spellsUsage = `usage: grimoire spells list [--json]          the spells the server holds
       grimoire spells put FILE [--id ID]     save a spell (either format): a new version when it changed
       grimoire spells get ID                 print a spell's latest version (native format)
flags (every subcommand): --server URL, --token JWT, --data DIR (the server holding DIR is used)`

// cmdSpells talks to a server: the library's read model lives there. A
// stopped server's library is filled with `grimoire import`.
func cmdSpells(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "put" && args[0] != "get") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(env.stdout, spellsUsage)
			return 0
		}
		if len(args) > 0 {
			fmt.Fprintf(env.stderr, "grimoire spells: unknown subcommand %q\n\n", args[0])
		}
		fmt.Fprintln(env.stderr, spellsUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("spells "+sub, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var rf remoteFlags
	rf.register(fs)
	dataDirFlag := fs.String("data", "", "data `DIR` whose server is used (env GRIMOIRE_DATA, default ./data)")
	asJSON := fs.Bool("json", false, "list: print the summaries as JSON")
	id := fs.String("id", "", "put: save under this `ID` (default: the document's id, else the file's name)")
	fs.Usage = func() { fmt.Fprintln(env.stderr, spellsUsage); fs.PrintDefaults() }
	if err := fs.Parse(reorderFlags(fs, args[1:])); err != nil {
		return 2
	}
	want := map[string]int{"list": 0, "put": 1, "get": 1}[sub]
	if fs.NArg() != want {
		return usageError(env, fs, "%s takes %d argument(s), got %d", sub, want, fs.NArg())
	}
	srv, err := rf.connect(ctx, env, *dataDirFlag)
	if err != nil {
		return fail(env, err)
	}
	if srv == nil {
		return fail(env, fmt.Errorf("no server is running on %s: start one (`make run`, `grimoire serve`) or pass --server URL; `grimoire import FILE` saves spells into a stopped server's data directory", dataDir(env, *dataDirFlag)))
	}
	switch sub {
	case "list":
		list, err := srv.ListSpells(ctx)
		if err != nil {
			return fail(env, err)
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(list); err != nil {
				return fail(env, err)
			}
			return 0
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tVERSION\tHASH\tOWNER\tUPDATED")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, s.Name, s.Version, shortHash(s.Hash), s.Owner, s.Updated.Format(time.RFC3339))
		}
		tw.Flush()
	case "put":
		path := fs.Arg(0)
		doc, err := os.ReadFile(path)
		if err != nil {
			return fail(env, err)
		}
		if *id == "" {
			var head struct {
				ID any `json:"id"`
			}
			_ = json.Unmarshal(doc, &head)
			if s, ok := head.ID.(string); ok && s != "" {
				*id = s
			} else {
				*id = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
			}
		}
		v, err := srv.PutSpell(ctx, *id, doc)
		if err != nil {
			return fail(env, err)
		}
		fmt.Fprintf(env.stdout, "%s version %d (%s)\n", v.SpellID, v.Version, v.Hash)
	case "get":
		s, err := srv.GetSpell(ctx, fs.Arg(0))
		if err != nil {
			return fail(env, err)
		}
		env.stdout.Write(append([]byte(s.Document), '\n'))
	}
	return 0
}
