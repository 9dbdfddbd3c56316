package nodes

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Random List From String", newRandomStringFromList) }

// recentRandomStrings is Thoth's module-level recently_used list: shared by
// every Random List From String node in the process.
var recentRandomStrings struct {
	sync.Mutex
	used []string
}

// Random List From String follows Thoth's
// core/src/components/RandomStringFromList.ts (editor name "Random List
// From String"): one line of config fewshot, picked at random among the
// lines not recently picked; the memory is cleared once it holds as many
// entries as the list has lines. The original's clear timer is never
// armed, so the memory has no time limit here either. Where the original
// would loop forever (every line already remembered, as with duplicate
// lines or lines picked by another node), the memory is cleared instead.
func newRandomStringFromList(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Random List From String",
		Aliases: []string{"Random String From List"},
		Family:  "text",
		Doc:     "Outputs a random line of config fewshot, not repeating a line until every line has been picked (as in Thoth).",
		Inputs:  []graph.Port{triggerIn},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the picked line; \"\" when fewshot is empty")},
		New: func(n *graph.Node) (graph.Worker, error) {
			lines := strings.Split(n.ConfigString("fewshot"), "\n")
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				r := &recentRandomStrings
				r.Lock()
				defer r.Unlock()
				fresh := make([]string, 0, len(lines))
				for _, l := range lines {
					if !slices.Contains(r.used, l) {
						fresh = append(fresh, l)
					}
				}
				if len(r.used) == len(lines) || len(fresh) == 0 {
					r.used = r.used[:0]
					fresh = lines
				}
				pick := fresh[rand.IntN(len(fresh))]
				r.used = append(r.used, pick)
				return graph.Result{Outputs: graph.Outputs{"output": pick}}, nil
			}), nil
		},
	}
}
