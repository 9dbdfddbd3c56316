package nodes

import (
	"context"
	"log/slog"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Log", newLog) }

// Log follows Magick's nodes/utility/Log.ts, which wrote
// `Output from <data.name || 'log component'>` and the value to the console:
// Grimoire writes it to the server's structured log (slog, level Info) with
// the run, node and user as attributes. It has no outputs.
func newLog(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Log",
		Family:  "utility",
		Doc:     "Writes its input to the server log.",
		Inputs:  []graph.Port{triggerIn, dataIn("string", "any", "the value to log")},
		Outputs: []graph.Port{},
		// A side effect: it must run every time, never come from the cache.
		Nondeterministic: true,
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: "log component", Doc: "the label the log line starts with"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			name := configString(n, "name")
			if name == "" {
				name = "log component"
			}
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("string")
				slog.InfoContext(ctx, "Output from "+name, "value", v,
					"run", a.RunID(), "node", a.Node.ID, "user", a.User())
				return graph.Result{}, nil
			}), nil
		},
	}
}
