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

	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
)

func init() {
	register("spells", "a server's spell library: spells list | put FILE [--id ID] | get ID | share ID [--public] [--reader USER]", cmdSpells)
}

const spellsUsage = `usage: grimoire spells list [--json]          the spells the server holds
       grimoire spells put FILE [--id ID]     save a spell (either format): a new version when it changed
       grimoire spells get ID                 print a spell's latest version (native format)
       grimoire spells share ID [--public] [--reader USER]... [--private]
                                              who besides you may read and run it (replaces its
                                              sharing; with no flag, prints it). Another user's spell
                                              shared with you runs as a sub-spell named OWNER/ID
flags (every subcommand): --server URL, --token JWT, --data DIR (the server holding DIR is used)`

// cmdSpells talks to a server: the library's read model lives there. A
// stopped server's library is filled with `grimoire import`.
func cmdSpells(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "put" && args[0] != "get" && args[0] != "share") {
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
	asJSON := fs.Bool("json", false, "list, share: print JSON")
	id := fs.String("id", "", "put: save under this `ID` (default: the document's id, else the file's name)")
	public := fs.Bool("public", false, "share: every user may read and run it")
	private := fs.Bool("private", false, "share: nobody else may (ends every sharing)")
	var readers stringList
	fs.Var(&readers, "reader", "share: a `USER` (JWT subject) who may read and run it; repeat or comma-separate")
	fs.Usage = func() { fmt.Fprintln(env.stderr, spellsUsage); fs.PrintDefaults() }
	if err := fs.Parse(reorderFlags(fs, args[1:])); err != nil {
		return 2
	}
	want := map[string]int{"list": 0, "put": 1, "get": 1, "share": 1}[sub]
	if fs.NArg() != want {
		return usageError(env, fs, "%s takes %d argument(s), got %d", sub, want, fs.NArg())
	}
	if *private && (*public || len(readers) > 0) {
		return usageError(env, fs, "--private ends every sharing: it takes no --public or --reader")
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
		var head struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(doc, &head)
		docID, _ := head.ID.(string)
		switch {
		case *id == "" && docID != "":
			*id = docID
		case *id == "":
			*id = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		case docID != "" && docID != *id:
			// --id saves a copy under another id: the document says so too.
			if doc, err = withID(doc, *id); err != nil {
				return fail(env, fmt.Errorf("%s: %w", path, err))
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
	case "share":
		var sh grimoire.SpellSharing
		if *public || *private || len(readers) > 0 {
			sh, err = srv.ShareSpell(ctx, fs.Arg(0), grimoire.Sharing{Public: *public, Readers: readers})
		} else {
			sh, err = srv.GetSharing(ctx, fs.Arg(0))
		}
		if err != nil {
			return fail(env, err)
		}
		if *asJSON {
			if err := json.NewEncoder(env.stdout).Encode(sh); err != nil {
				return fail(env, err)
			}
			return 0
		}
		fmt.Fprintln(env.stdout, describeSharing(sh))
	}
	return 0
}

// withID returns a spell document with its top-level "id" set to id.
func withID(doc []byte, id string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &fields); err != nil {
		return nil, err
	}
	fields["id"], _ = json.Marshal(id)
	return json.Marshal(fields)
}

// describeSharing says in a line who may read and run a spell.
func describeSharing(sh grimoire.SpellSharing) string {
	owner := sh.Owner
	if owner == "" {
		owner = "the operator"
	}
	switch {
	case sh.Public:
		return fmt.Sprintf("%s (owner %s): every user may read and run it", sh.SpellID, owner)
	case len(sh.Readers) > 0:
		return fmt.Sprintf("%s (owner %s): shared with %s; they use it as a sub-spell named %q", sh.SpellID, owner, strings.Join(sh.Readers, ", "), sh.Owner+"/"+sh.SpellID)
	}
	return fmt.Sprintf("%s (owner %s): not shared", sh.SpellID, owner)
}
