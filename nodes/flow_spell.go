package nodes

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Spell", newSpell) }

// A Spell node runs another spell. Its ports are declared on the node and
// keyed (as Thoth and Magick write them) by the socketKey of the sub-spell's
// Input, Output, Module Trigger In and Module Trigger Out nodes; a port may
// also name such a node by its name or node id.
func newSpell(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Spell",
		Aliases:      []string{"Sub Spell", "Module"},
		Family:       "flow",
		Doc:          "Runs another spell: its ports are that spell's Inputs, Outputs and Module Trigger Ins/Outs.",
		DynamicPorts: true,
		Config: []graph.ConfigField{
			{Name: "spellId", Type: "string", Doc: "id or name of the spell to run (Thoth: spell)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			ref := configString(n, "spellId", "spell", "spellName")
			if ref == "" {
				return nil, errors.New(`config "spellId" is empty; name the spell to run by id or name`)
			}
			return &spellWorker{ref: ref, svcs: svcs}, nil
		},
	}
}

type spellWorker struct {
	ref  string
	svcs *Services
}

// subPort is one node of the sub-spell that a Spell node port can refer to.
type subPort struct {
	node *graph.Node
	role graph.Role
	keys []string // socketKey, name, node id
	name string   // the run input/output name
}

func (w *spellWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	sub, err := a.LoadSpell(ctx, w.ref)
	if err != nil {
		return graph.Result{}, fmt.Errorf("load sub-spell %q: %w", w.ref, err)
	}
	ports := w.subPorts(sub)
	find := func(d graph.PortDecl, role graph.Role) *subPort {
		for i := range ports {
			p := &ports[i]
			if p.role == role && (slices.Contains(p.keys, d.Key) || (d.Name != "" && slices.Contains(p.keys, d.Name))) {
				return p
			}
		}
		return nil
	}

	call := graph.SubRun{Spell: sub, Inputs: map[string]any{}}
	for _, d := range a.Node.Inputs {
		switch d.Kind {
		case graph.Data:
			v, ok := a.Input(d.Key)
			if !ok {
				continue
			}
			if p := find(d, graph.RoleInput); p != nil {
				call.Inputs[p.name] = v
			} else {
				call.Inputs[portName(d)] = v
			}
		case graph.Trigger:
			if d.Key != a.Trigger || a.Trigger == "" {
				continue
			}
			p := find(d, graph.RoleTriggerIn)
			if p == nil {
				return graph.Result{}, fmt.Errorf("trigger input %q matches no Module Trigger In of sub-spell %q (by socketKey, name or node id)", d.Key, sub.ID)
			}
			call.Entry = p.node.ID
		}
	}

	res, err := a.RunSpell(ctx, call)
	if err != nil {
		return graph.Result{}, fmt.Errorf("sub-spell %q: %w", sub.ID, err)
	}

	out := graph.Result{Outputs: graph.Outputs{}}
	for _, d := range a.Node.Outputs {
		switch d.Kind {
		case graph.Data:
			name := portName(d)
			if p := find(d, graph.RoleOutput); p != nil {
				name = p.name
			}
			if v, ok := res.Outputs[name]; ok {
				out.Outputs[d.Key] = v
			}
		case graph.Trigger:
			fired := false
			if p := find(d, graph.RoleTriggerOut); p != nil {
				for _, f := range res.Fired {
					if slices.Contains(p.keys, f) {
						fired = true
					}
				}
			} else {
				fired = slices.Contains(res.Fired, d.Key) || slices.Contains(res.Fired, portName(d))
			}
			if !fired {
				out.Closed = append(out.Closed, d.Key)
			}
		}
	}
	return out, nil
}

func (w *spellWorker) subPorts(sub *graph.Spell) []subPort {
	var out []subPort
	for i := range sub.Nodes {
		n := &sub.Nodes[i]
		if w.svcs.catalog == nil {
			break
		}
		t, ok := w.svcs.catalog.Lookup(n.Type)
		if !ok || t.Role == graph.RoleNone {
			continue
		}
		p := subPort{node: n, role: t.Role}
		for _, k := range []string{n.ConfigString("socketKey"), n.ConfigString("name"), n.ID} {
			if k != "" {
				p.keys = append(p.keys, k)
			}
		}
		if t.Role == graph.RoleInput || t.Role == graph.RoleOutput {
			p.name = t.PortName(n)
		}
		out = append(out, p)
	}
	return out
}
