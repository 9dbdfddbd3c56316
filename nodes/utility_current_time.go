package nodes

import (
	"context"
	"time"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Current Time", newCurrentTime) }

// Current Time follows Magick's nodes/utility/CurrentTime.ts: "string" is
// Date.toLocaleString() (Grimoire writes the en-US form in the server's
// time zone, e.g. "12/4/2026, 11:30:56 PM") and "timestamp" is Date.now(),
// milliseconds since the Unix epoch (Magick's info text says seconds; its
// code outputs milliseconds).
func newCurrentTime(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Current Time",
		Family: "utility",
		Doc:    "Outputs the current date and time as text and as a millisecond Unix timestamp.",
		Inputs: []graph.Port{triggerIn},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("string", "string", "the local date and time, e.g. \"12/4/2026, 11:30:56 PM\""),
			dataOut("timestamp", "number", "milliseconds since 1970-01-01 UTC"),
		},
		Nondeterministic: true,
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				now := time.Now()
				return graph.Result{Outputs: graph.Outputs{
					"string":    now.Format("1/2/2006, 3:04:05 PM"),
					"timestamp": float64(now.UnixMilli()),
				}}, nil
			}), nil
		},
	}
}
