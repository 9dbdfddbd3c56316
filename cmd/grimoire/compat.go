package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"

	"github.com/grimoire-run/grimoire/graph"
)

// A compatibility report says, for many spell files at once (a Thoth or
// Magick project's exports), which would run here and what stops the
// others: `grimoire import --check DIR` and `grimoire validate DIR`.

type compatFile struct {
	Path     string          `json:"path"`
	Format   graph.Format    `json:"format,omitempty"`
	OK       bool            `json:"ok"`
	Error    string          `json:"error,omitempty"` // unreadable or unparsable
	Problems []graph.Problem `json:"problems,omitempty"`
	// Unknown lists the node types the registry does not know, once each.
	Unknown []string `json:"unknownTypes,omitempty"`
}

type unknownType struct {
	Type  string `json:"type"`
	Files int    `json:"files"`
	Nodes int    `json:"nodes"`
}

type compatReport struct {
	Files        []compatFile  `json:"files"`
	OK           int           `json:"ok"`
	Failed       int           `json:"failed"`
	UnknownTypes []unknownType `json:"unknownTypes"`
}

// spellFiles expands directories (recursively) into the .json files they
// hold; plain files are taken as given.
func spellFiles(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != arg && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".json") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// checkSpells parses and validates every file, in parallel, and reports
// them in the order given.
func checkSpells(paths []string, catalog graph.Catalog) compatReport {
	rep := compatReport{Files: make([]compatFile, len(paths)), UnknownTypes: []unknownType{}}
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, min(goruntime.GOMAXPROCS(0), len(paths))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rep.Files[i] = checkSpellFile(paths[i], catalog)
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()

	unknown := map[string]*unknownType{}
	for _, f := range rep.Files {
		if f.OK {
			rep.OK++
		} else {
			rep.Failed++
		}
		for _, name := range f.Unknown {
			u := unknown[name]
			if u == nil {
				u = &unknownType{Type: name}
				unknown[name] = u
			}
			u.Files++
		}
	}
	for _, f := range rep.Files {
		for _, p := range f.Problems {
			if name, ok := unknownTypeOf(p); ok && unknown[name] != nil {
				unknown[name].Nodes++
			}
		}
	}
	for _, u := range unknown {
		rep.UnknownTypes = append(rep.UnknownTypes, *u)
	}
	sort.Slice(rep.UnknownTypes, func(i, j int) bool {
		a, b := rep.UnknownTypes[i], rep.UnknownTypes[j]
		if a.Files != b.Files {
			return a.Files > b.Files
		}
		if a.Nodes != b.Nodes {
			return a.Nodes > b.Nodes
		}
		return a.Type < b.Type
	})
	return rep
}

func checkSpellFile(path string, catalog graph.Catalog) compatFile {
	f := compatFile{Path: path}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Error = err.Error()
		return f
	}
	s, format, err := graph.ParseSpell(data)
	f.Format = format
	if err != nil {
		f.Error = err.Error()
		return f
	}
	err = graph.Validate(s, catalog)
	if err == nil {
		f.OK = true
		return f
	}
	var ve *graph.ValidationError
	if !errors.As(err, &ve) {
		f.Error = err.Error()
		return f
	}
	f.Problems = ve.Problems
	seen := map[string]bool{}
	for _, p := range ve.Problems {
		if name, ok := unknownTypeOf(p); ok && !seen[name] {
			seen[name] = true
			f.Unknown = append(f.Unknown, name)
		}
	}
	sort.Strings(f.Unknown)
	return f
}

// unknownTypeOf reads the type name out of Validate's "unknown node type"
// problem; the node's own type is not in a Problem.
func unknownTypeOf(p graph.Problem) (string, bool) {
	const prefix = "unknown node type "
	if p.Field != "type" || !strings.HasPrefix(p.Message, prefix) {
		return "", false
	}
	rest := strings.TrimPrefix(p.Message, prefix)
	var name string
	if _, err := fmt.Sscanf(rest, "%q", &name); err != nil {
		return "", false
	}
	return name, true
}

func (rep compatReport) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	for _, f := range rep.Files {
		switch {
		case f.OK:
			fmt.Fprintf(w, "%s: ok\n", f.Path)
		case f.Error != "":
			fmt.Fprintf(w, "%s: cannot be read\n  %s\n", f.Path, strings.ReplaceAll(f.Error, "\n", "\n  "))
		default:
			n := len(f.Problems)
			fmt.Fprintf(w, "%s: %d problem%s\n", f.Path, n, map[bool]string{true: "", false: "s"}[n == 1])
			for _, p := range f.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
	}
	fmt.Fprintf(w, "\n%d spell files: %d ok, %d with problems\n", len(rep.Files), rep.OK, rep.Failed)
	if len(rep.UnknownTypes) > 0 {
		fmt.Fprintln(w, "unknown node types (run `grimoire nodes` for the known ones):")
		for _, u := range rep.UnknownTypes {
			fmt.Fprintf(w, "  %-32q in %d file%s, %d node%s\n", u.Type, u.Files, plural(u.Files), u.Nodes, plural(u.Nodes))
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
