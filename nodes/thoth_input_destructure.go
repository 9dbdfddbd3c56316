package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Input Destructure", newInputDestructure) }

// Input Destructure is Thoth's agent input splitter (InputDestructure.ts):
// it reads the agent object on its "agent" input and yields its fields,
// with Thoth's fallbacks for the ones that are null or missing (JavaScript
// ??): output is agent.Input, else the whole object; speaker "Speaker",
// agent "Agent", client "Playtest", channel "TestChannel"; entity, roomInfo
// and channel_type (from agent.Channel) have none. With nothing connected
// Thoth destructured its inputs object, which here is an empty object.
func newInputDestructure(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Input Destructure",
		Family: "object",
		Doc:    "Splits Thoth's agent input (Input, Speaker, Agent, Client, ChannelID, Entity, RoomInfo, Channel) into outputs.",
		Inputs: []graph.Port{triggerIn, dataIn("agent", "object", "the agent input object")},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("output", "any", "agent.Input, else the whole object"),
			dataOut("speaker", "string", "agent.Speaker, else \"Speaker\""),
			dataOut("agent", "string", "agent.Agent, else \"Agent\""),
			dataOut("client", "string", "agent.Client, else \"Playtest\""),
			dataOut("channel", "string", "agent.ChannelID, else \"TestChannel\""),
			dataOut("entity", "any", "agent.Entity"),
			dataOut("roomInfo", "array", "agent.RoomInfo"),
			dataOut("channel_type", "string", "agent.Channel"),
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("agent")
				var agent map[string]any
				switch x := v.(type) {
				case nil:
					agent = map[string]any{}
				case map[string]any:
					agent = x
				default:
					return graph.Result{}, fmt.Errorf(`input "agent": want the agent object {Input, Speaker, Agent, …}, got %T`, v)
				}
				or := func(key string, def any) any {
					if f, ok := agent[key]; ok && f != nil {
						return f
					}
					return def
				}
				return graph.Result{Outputs: graph.Outputs{
					"output":       or("Input", agent),
					"speaker":      or("Speaker", "Speaker"),
					"agent":        or("Agent", "Agent"),
					"client":       or("Client", "Playtest"),
					"channel":      or("ChannelID", "TestChannel"),
					"entity":       agent["Entity"],
					"roomInfo":     agent["RoomInfo"],
					"channel_type": agent["Channel"],
				}}, nil
			}), nil
		},
	}
}
