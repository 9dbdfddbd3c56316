package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

// writeNodesMarkdown writes the node reference, docs/nodes.md: every type
// by family, with its Thoth/Magick names, ports and configuration. The page
// is generated (`make docs`); a test fails when it is out of date.
func writeNodesMarkdown(w io.Writer, types []*graph.NodeType) {
	groups := byFamily(types)
	fmt.Fprintf(w, "# Node types\n\n")
	fmt.Fprintf(w, "Generated from the node registry by `grimoire nodes --markdown` (`make docs`); do not edit by hand.\n")
	fmt.Fprintf(w, "%d types. A spell names a type by its name or any of its other names (Thoth and Magick\n", len(types))
	fmt.Fprintf(w, "editors save the node's `name`; it is matched exactly, then ignoring case). Ports marked\n")
	fmt.Fprintf(w, "*trigger* push control; the others carry data, pulled when a node runs.\n\n")
	for _, g := range groups {
		fmt.Fprintf(w, "- [%s](#%s) (%d)\n", g.title, anchor(g.title), len(g.types))
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n## %s\n", g.title)
		for _, t := range g.types {
			fmt.Fprintf(w, "\n### %s\n\n%s\n\n", t.Name, mdText(t.Doc))
			if len(t.Aliases) > 0 {
				fmt.Fprintf(w, "Also: %s.", "`"+strings.Join(t.Aliases, "`, `")+"`")
				fmt.Fprintln(w)
				fmt.Fprintln(w)
			}
			var notes []string
			if t.DynamicPorts {
				notes = append(notes, "more ports may be declared on the node")
			}
			if t.Nondeterministic {
				if t.Cacheable {
					notes = append(notes, "calls a model: runs every time unless the node or spell sets `cache: true`; replays feed it from the recording")
				} else {
					notes = append(notes, "nondeterministic: never served from the cache")
				}
			}
			if len(notes) > 0 {
				fmt.Fprintf(w, "*%s.*\n\n", strings.Join(notes, "; "))
			}
			if len(t.Inputs)+len(t.Outputs) > 0 {
				fmt.Fprintf(w, "| port | direction | kind | about |\n|---|---|---|---|\n")
				for _, p := range t.Inputs {
					fmt.Fprintf(w, "| `%s` | in | %s | %s |\n", p.Name, portKind(p), mdText(p.Doc))
				}
				for _, p := range t.Outputs {
					fmt.Fprintf(w, "| `%s` | out | %s | %s |\n", p.Name, portKind(p), mdText(p.Doc))
				}
				fmt.Fprintln(w)
			}
			if len(t.Config) > 0 {
				fmt.Fprintf(w, "| config | type | default | about |\n|---|---|---|---|\n")
				for _, c := range t.Config {
					def := ""
					if c.Default != nil {
						def = fmt.Sprintf("`%v`", c.Default)
					} else if c.Required {
						def = "required"
					}
					fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", c.Name, c.Type, def, mdText(c.Doc))
				}
				fmt.Fprintln(w)
			}
		}
	}
}

func portKind(p graph.Port) string {
	if p.Kind == graph.Trigger {
		return "*trigger*"
	}
	if p.Type == "" {
		return "any"
	}
	return p.Type
}

// mdText keeps a doc string on one table cell.
func mdText(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// anchor is the id GitHub gives a heading.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}
