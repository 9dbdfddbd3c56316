package nodes

import (
	"context"
	"log/slog"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Alert", newAlert) }

// Alert follows Thoth's components/utility/AlertMessage.ts and Magick's
// nodes/utility/AlertMessage.ts (both named 'Alert'): when triggered it
// shows data.text in a browser alert. A server has no browser: Grimoire
// writes the message to the server log (slog, level Warn) and streams it
// to the run's observer, so an editor watching the run sees it. Magick's
// text for a node without data is kept.
func newAlert(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Alert",
		Aliases: []string{"Alert Message"},
		Family:  "utility",
		Doc:     "Shows a fixed message when triggered: streamed to the run's observer and written to the server log.",
		Inputs:  []graph.Port{triggerIn},
		Outputs: []graph.Port{},
		// A side effect: it must run every time, never come from the cache.
		Nondeterministic: true,
		Config: []graph.ConfigField{
			{Name: "text", Type: "string", Doc: "the message"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			msg, ok := n.Config["text"]
			message := text(msg)
			if !ok {
				message = "node has no data"
			}
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				slog.WarnContext(ctx, "Alert: "+message, "run", a.RunID(), "node", a.Node.ID, "user", a.User())
				a.Emit(message)
				return graph.Result{}, nil
			}), nil
		},
	}
}
