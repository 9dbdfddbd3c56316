package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	register("nodes", "list node types with their ports and config (--json for machines)", cmdNodes)
}

// nodeTypeDoc is the machine-readable listing of one node type.
type nodeTypeDoc struct {
	Name             string              `json:"name"`
	Aliases          []string            `json:"aliases,omitempty"`
	Family           string              `json:"family"`
	Doc              string              `json:"doc"`
	Role             graph.Role          `json:"role,omitempty"`
	Inputs           []graph.Port        `json:"inputs"`
	Outputs          []graph.Port        `json:"outputs"`
	Config           []graph.ConfigField `json:"config"`
	DynamicPorts     bool                `json:"dynamicPorts,omitempty"`
	Nondeterministic bool                `json:"nondeterministic,omitempty"`
}

func cmdNodes(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("nodes", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	asMarkdown := fs.Bool("markdown", false, "print the reference page docs/nodes.md is generated from")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	types := newCatalog(env).Types()
	switch {
	case *asJSON:
		docs := make([]nodeTypeDoc, 0, len(types))
		for _, t := range types {
			docs = append(docs, nodeTypeDoc{
				Name: t.Name, Aliases: t.Aliases, Family: t.Family, Doc: t.Doc, Role: t.Role,
				Inputs: nonNil(t.Inputs), Outputs: nonNil(t.Outputs), Config: nonNil(t.Config),
				DynamicPorts: t.DynamicPorts, Nondeterministic: t.Nondeterministic,
			})
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(docs); err != nil {
			return fail(env, err)
		}
	case *asMarkdown:
		writeNodesMarkdown(env.stdout, types)
	default:
		for _, group := range byFamily(types) {
			fmt.Fprintf(env.stdout, "== %s (%s) ==\n\n", group.title, group.family)
			for _, t := range group.types {
				printNodeType(env, t)
			}
		}
	}
	return 0
}

func printNodeType(env *cliEnv, t *graph.NodeType) {
	name := t.Name
	if len(t.Aliases) > 0 {
		name += " (also: " + strings.Join(t.Aliases, ", ") + ")"
	}
	fmt.Fprintf(env.stdout, "%s  [%s]\n    %s\n", name, t.Family, t.Doc)
	printPorts(env, "in ", t.Inputs)
	printPorts(env, "out", t.Outputs)
	if t.DynamicPorts {
		fmt.Fprintln(env.stdout, "    ports: more may be declared on the node")
	}
	for _, c := range t.Config {
		req := ""
		if c.Required {
			req = ", required"
		}
		def := ""
		if c.Default != nil {
			def = fmt.Sprintf(" = %v", c.Default)
		}
		fmt.Fprintf(env.stdout, "    config %s (%s%s)%s  %s\n", c.Name, c.Type, req, def, c.Doc)
	}
	fmt.Fprintln(env.stdout)
}

// families lists the node families in the order users read them, with
// their titles; a family missing here is listed after them by name.
var families = []struct{ family, title string }{
	{"io", "Inputs, outputs and triggers"},
	{"flow", "Flow: gates, loops, sub-spells"},
	{"logic", "Logic and comparisons"},
	{"number", "Numbers"},
	{"variable", "Variables"},
	{"text", "Text"},
	{"array", "Arrays"},
	{"object", "Objects"},
	{"utility", "Utilities"},
	{"code", "Code"},
	{"llm", "Language models"},
	{"knowledge", "Embeddings, documents and knowledge search"},
	{"memory", "Agent memory (events)"},
	{"state", "Spell state"},
	{"unsupported", "Recognised but not runnable here"},
}

type familyGroup struct {
	family, title string
	types         []*graph.NodeType
}

// byFamily groups types (sorted by name) by family, in the families order.
func byFamily(types []*graph.NodeType) []familyGroup {
	idx := map[string]int{}
	var groups []familyGroup
	for _, f := range families {
		idx[f.family] = len(groups)
		groups = append(groups, familyGroup{family: f.family, title: f.title})
	}
	for _, t := range types {
		i, ok := idx[t.Family]
		if !ok {
			i = len(groups)
			idx[t.Family] = i
			groups = append(groups, familyGroup{family: t.Family, title: t.Family})
		}
		groups[i].types = append(groups[i].types, t)
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g.types) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func printPorts(env *cliEnv, dir string, ports []graph.Port) {
	for _, p := range ports {
		kind := string(p.Kind)
		if p.Kind == graph.Data && p.Type != "" {
			kind += " " + p.Type
		}
		fmt.Fprintf(env.stdout, "    %s %-12s %s\n", dir, p.Name, kind)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
