package nodes

import (
	"context"
	"fmt"
	"time"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("ForEach", newForEach) }

// ForEach is Thoth's loop (components/ForEach.ts): for each element of its
// array it fires "act" with the element on "element", and when all are
// done it fires "done". Thoth ran the elements' branches at once (clones
// of the task under Promise.all); Grimoire runs them one after another, in
// array order, each to its end before the next starts, so a run's events
// and outputs are the same every time. A missing or non-array input fails
// the node, as Thoth's worker threw; an empty array fires only "done".
func newForEach(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "ForEach",
		Aliases: []string{"For Each"},
		Family:  "flow",
		Doc:     "Fires \"act\" once per element of its array, the element on \"element\", then \"done\".",
		Inputs: []graph.Port{
			{Name: "act1", Kind: graph.Trigger, Doc: "starts the loop (Thoth's socket name)"},
			triggerIn,
			dataIn("array", "array", "the elements to loop over"),
		},
		Outputs: []graph.Port{
			{Name: "act", Kind: graph.Trigger, Doc: "fires once per element; its branch finishes before the next element"},
			dataOut("element", "any", "the current element, while its branch runs"),
			{Name: "done", Kind: graph.Trigger, Doc: "fires after the last element's branch"},
		},
		FiresPerItem: true,
		// The whole loop, every branch it runs included, is one activation.
		Timeout: 30 * time.Minute,
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("array")
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf(`input "array" has no value; connect a list to loop over`)
				}
				list, ok := v.([]any)
				if !ok {
					return graph.Result{}, fmt.Errorf(`input "array": want an array, got %T`, v)
				}
				for _, el := range list {
					if err := a.Fire("act", graph.Outputs{"element": el}); err != nil {
						return graph.Result{}, err
					}
				}
				return graph.Result{Outputs: graph.Outputs{}, Closed: []string{"act"}}, nil
			}), nil
		},
	}
}
