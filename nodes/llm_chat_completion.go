package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() {
	Register("Chat Completion", newChatCompletion)
	Register("Generate Text", newGenerateText)
}

// defaultToolRounds bounds how many times a Chat Completion node answers
// the model's tool calls before giving up.
const defaultToolRounds = 5

// Chat Completion is Grimoire's own completion node: a conversation
// (messages input, system and prompt) sent to the chat endpoint, tokens
// streamed to the node's partial output, and tools that are other spells.
func newChatCompletion(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Chat Completion",
		Family: "llm",
		Doc:    "Sends a conversation to the chat model and streams the answer; tools are other spells, run when the model calls them.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("messages", "array", "earlier messages: [{role, content}], or strings (user messages)"),
			dataIn("system", "string", "system message (overrides config system)"),
			dataIn("prompt", "string", "the user's message (overrides config prompt)"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("result", "string", "the model's answer"),
			dataOut("messages", "array", "the conversation including the answer (and any tool calls and results)"),
			dataOut("toolCalls", "array", "the tool calls the model made: [{name, arguments, result}]"),
			dataOut("finishReason", "string", "why the model stopped: stop, length, …"),
		},
		DynamicPorts:     true,
		Nondeterministic: true,
		Cacheable:        true,
		Config: append([]graph.ConfigField{
			{Name: "system", Type: "string", Doc: "system message, a Handlebars template over the inputs"},
			{Name: "prompt", Type: "string", Doc: "user message, a Handlebars template over the inputs"},
			{Name: "tools", Type: "array", Doc: "spells the model may call: spell ids, or {spell, name, description, parameters}"},
			{Name: "mcpServers", Type: "array", Doc: "external MCP servers whose tools the model may call too, by the names the operator configured (GRIMOIRE_MCP_SERVERS): names, or {server, tools: [names]} to offer only some; a tool is offered as SERVER_TOOL"},
			{Name: "maxToolRounds", Type: "number", Default: defaultToolRounds, Doc: "most rounds of tool calls before the node fails"},
			{Name: "stream", Type: "boolean", Default: true, Doc: "stream tokens to the node's partial output"},
		}, samplingFields...),
		New: func(n *graph.Node) (graph.Worker, error) {
			return newChatWorker(svcs, n, chatPorts{prompt: "prompt", system: "system", messages: "messages"}, 0)
		},
	}
}

// Generate Text is Magick's completion node: its "input" is the user
// message, its settings are data fields with Magick's names (model,
// temperature, top_p, max_tokens, frequency_penalty, presence_penalty,
// stop), its answer is "result".
func newGenerateText(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Generate Text",
		Family: "llm",
		Doc:    "Magick's text generation: completes its input with the chat model and streams the answer.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input", "string", "the prompt (sent as the user message)"),
			dataIn("system", "string", "system message"),
			dataIn("conversation", "array", "earlier messages, sent between the system message and the input (Magick's chat provider)"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("result", "string", "the model's answer"),
			dataOut("error", "string", "kept for Magick spells, whose providers declare it; a failed call fails the node instead, as Magick's worker throws"),
		},
		DynamicPorts:     true,
		Nondeterministic: true,
		Cacheable:        true,
		Config: append([]graph.ConfigField{
			{Name: "prompt", Type: "string", Doc: "prompt template used when the input is not connected"},
			{Name: "system", Type: "string", Doc: "system message template"},
		}, samplingFields...),
		New: func(n *graph.Node) (graph.Worker, error) {
			return newChatWorker(svcs, n, chatPorts{prompt: "input", system: "system", messages: "conversation"}, 0)
		},
	}
}

type chatPorts struct{ prompt, system, messages string }

type chatWorker struct {
	svcs           *Services
	ports          chatPorts
	sampling       sampling
	system, prompt *handlebars
	tools          []toolSpec
	mcpServers     []mcpServerSpec
	maxRounds      int
	stream         bool
}

// toolSpec is one configured tool: a spell, and optionally how the model
// sees it.
type toolSpec struct {
	spell, name, description string
	parameters               json.RawMessage
}

// mcpServerSpec is one configured MCP server: its name and, when set, the
// only tools of it the model is offered.
type mcpServerSpec struct {
	server string
	tools  []string
}

func parseMCPServers(v any) ([]mcpServerSpec, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok {
		var out []mcpServerSpec
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, mcpServerSpec{server: p})
			}
		}
		return out, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("config \"mcpServers\": want a list of server names or {server, tools}, got %T", v)
	}
	var out []mcpServerSpec
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, mcpServerSpec{server: x})
		case map[string]any:
			m := mcpServerSpec{}
			m.server, _ = x["server"].(string)
			if m.server == "" {
				return nil, fmt.Errorf("config \"mcpServers\"[%d]: name the server in \"server\"", i)
			}
			if ts, ok := x["tools"].([]any); ok {
				for j, t := range ts {
					name, ok := t.(string)
					if !ok || name == "" {
						return nil, fmt.Errorf("config \"mcpServers\"[%d].tools[%d]: want a tool name", i, j)
					}
					m.tools = append(m.tools, name)
				}
			}
			out = append(out, m)
		default:
			return nil, fmt.Errorf("config \"mcpServers\"[%d]: want a server name or an object, got %T", i, e)
		}
	}
	return out, nil
}

func newChatWorker(svcs *Services, n *graph.Node, ports chatPorts, defaultMaxTokens int) (*chatWorker, error) {
	s, err := readSampling(n, defaultMaxTokens)
	if err != nil {
		return nil, err
	}
	w := &chatWorker{svcs: svcs, ports: ports, sampling: s, maxRounds: defaultToolRounds, stream: true}
	if src := configString(n, "system"); src != "" {
		if w.system, err = parseHandlebars(src); err != nil {
			return nil, fmt.Errorf("config \"system\": %w", err)
		}
	}
	if src := configString(n, "prompt", "fewshot"); src != "" {
		if w.prompt, err = parseHandlebars(src); err != nil {
			return nil, fmt.Errorf("config \"prompt\": %w", err)
		}
	}
	if v, ok, err := configNumber(n, "maxToolRounds"); err != nil {
		return nil, err
	} else if ok {
		if v < 1 {
			return nil, fmt.Errorf("config \"maxToolRounds\" is %v; it must be at least 1", v)
		}
		w.maxRounds = int(v)
	}
	if v, ok := n.Config["stream"].(bool); ok {
		w.stream = v
	}
	if w.tools, err = parseTools(n.Config["tools"]); err != nil {
		return nil, err
	}
	if w.mcpServers, err = parseMCPServers(n.Config["mcpServers"]); err != nil {
		return nil, err
	}
	return w, nil
}

func parseTools(v any) ([]toolSpec, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok { // "a, b" as an editor text field writes it
		var out []toolSpec
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, toolSpec{spell: p})
			}
		}
		return out, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("config \"tools\": want a list of spell ids or {spell, name, description, parameters}, got %T", v)
	}
	var out []toolSpec
	for i, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, toolSpec{spell: x})
		case map[string]any:
			t := toolSpec{}
			t.spell, _ = x["spell"].(string)
			if t.spell == "" {
				t.spell, _ = x["spellId"].(string)
			}
			t.name, _ = x["name"].(string)
			t.description, _ = x["description"].(string)
			if p, ok := x["parameters"]; ok && p != nil {
				b, err := json.Marshal(p)
				if err != nil {
					return nil, fmt.Errorf("config \"tools\"[%d].parameters: %w", i, err)
				}
				t.parameters = b
			}
			if t.spell == "" {
				return nil, fmt.Errorf("config \"tools\"[%d]: name the spell to run in \"spell\"", i)
			}
			out = append(out, t)
		default:
			return nil, fmt.Errorf("config \"tools\"[%d]: want a spell id or an object, got %T", i, e)
		}
	}
	return out, nil
}

// boundTool is a tool resolved for one activation: its spell is loaded,
// or it is a tool of an MCP server.
type boundTool struct {
	def    services.Tool
	spell  *graph.Spell
	inputs []string // the spell's Input names
	// mcpServer and mcpTool name an MCP server's tool (spell is nil).
	mcpServer, mcpTool string
}

func (w *chatWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Completion == nil {
		return graph.Result{}, services.ErrNoCompletionEndpoint
	}
	vars := namedInputs(a)
	var msgs []services.Message
	system := ""
	if v, ok := a.Input(w.ports.system); ok {
		system = text(v)
	} else if w.system != nil {
		s, err := w.system.render(vars)
		if err != nil {
			return graph.Result{}, fmt.Errorf("config \"system\": %w", err)
		}
		system = s
	}
	if system != "" {
		msgs = append(msgs, services.Message{Role: "system", Content: system})
	}
	if w.ports.messages != "" {
		if v, ok := a.Input(w.ports.messages); ok {
			prior, err := toMessages(v)
			if err != nil {
				return graph.Result{}, fmt.Errorf("input %q: %w", w.ports.messages, err)
			}
			msgs = append(msgs, prior...)
		}
	}
	prompt := ""
	if v, ok := a.Input(w.ports.prompt); ok {
		prompt = text(v)
	} else if w.prompt != nil {
		p, err := w.prompt.render(vars)
		if err != nil {
			return graph.Result{}, fmt.Errorf("config \"prompt\": %w", err)
		}
		prompt = p
	}
	if prompt != "" {
		msgs = append(msgs, services.Message{Role: "user", Content: prompt})
	}
	if len(msgs) == 0 || (len(msgs) == 1 && msgs[0].Role == "system") {
		return graph.Result{}, fmt.Errorf("nothing to send: connect %q or set config \"prompt\"", w.ports.prompt)
	}

	tools, err := w.bindTools(ctx, a)
	if err != nil {
		return graph.Result{}, err
	}
	req := w.sampling.request(w.svcs)
	for _, t := range tools {
		req.Tools = append(req.Tools, t.def)
	}
	var onToken func(string)
	if w.stream {
		onToken = a.Emit
	}
	var calls []any
	for round := 0; ; round++ {
		req.Messages = msgs
		resp, err := w.svcs.Completion.Complete(ctx, req, onToken)
		if err != nil {
			return graph.Result{}, fmt.Errorf("completion (model %q): %w", req.Model, err)
		}
		reportUsage(a, req.Model, resp.Usage)
		msgs = append(msgs, services.Message{Role: "assistant", Content: resp.Text, ToolCalls: resp.ToolCalls})
		if len(resp.ToolCalls) == 0 {
			return graph.Result{Outputs: graph.Outputs{
				"result": resp.Text, "messages": messagesValue(msgs), "toolCalls": nonNil(calls), "finishReason": resp.FinishReason,
			}}, nil
		}
		if round >= w.maxRounds {
			return graph.Result{}, fmt.Errorf("the model still calls tools after %d rounds (maxToolRounds); raise maxToolRounds or change the prompt", w.maxRounds)
		}
		for _, tc := range resp.ToolCalls {
			result, err := w.callTool(ctx, a, tools, tc)
			if err != nil {
				return graph.Result{}, fmt.Errorf("tool %q: %w", tc.Name, err)
			}
			calls = append(calls, map[string]any{"id": tc.ID, "name": tc.Name, "arguments": tc.Arguments, "result": result})
			msgs = append(msgs, services.Message{Role: "tool", ToolCallID: tc.ID, Name: tc.Name, Content: result})
		}
	}
}

var toolNameRE = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// toolName makes a function name the OpenAI API accepts.
func toolName(s string) string {
	s = strings.Trim(toolNameRE.ReplaceAllString(s, "_"), "_")
	if s == "" {
		s = "tool"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func (w *chatWorker) bindTools(ctx context.Context, a *graph.Activation) ([]boundTool, error) {
	out := make([]boundTool, 0, len(w.tools))
	seen := map[string]string{}
	for _, t := range w.tools {
		sp, err := a.LoadSpell(ctx, t.spell)
		if err != nil {
			return nil, fmt.Errorf("tool %q: %w", t.spell, err)
		}
		bt := boundTool{spell: sp}
		for i := range sp.Nodes {
			n := &sp.Nodes[i]
			if w.svcs.catalog == nil {
				break
			}
			if typ, ok := w.svcs.catalog.Lookup(n.Type); ok && typ.Role == graph.RoleInput {
				name := n.ConfigString("name")
				if name == "" {
					name = defaultInputName
				}
				bt.inputs = append(bt.inputs, name)
			}
		}
		name := t.name
		if name == "" {
			name = sp.Name
			if name == "" {
				name = sp.ID
			}
		}
		name = toolName(name)
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("tools %q and %q are both called %q: give one a name", prev, t.spell, name)
		}
		seen[name] = t.spell
		desc := t.description
		if desc == "" {
			desc = fmt.Sprintf("Runs the spell %q.", cmpOr(sp.Name, sp.ID))
			if d, ok := sp.Meta["description"].(string); ok && d != "" {
				desc = d
			}
		}
		params := t.parameters
		if params == nil {
			props := map[string]any{}
			for _, in := range bt.inputs {
				props[in] = map[string]any{"type": "string"}
			}
			params, _ = json.Marshal(map[string]any{"type": "object", "properties": props, "required": nonNilStrings(bt.inputs)})
		}
		bt.def = services.Tool{Name: name, Description: desc, Parameters: params}
		out = append(out, bt)
	}
	for _, m := range w.mcpServers {
		if w.svcs.ToolServers == nil {
			return nil, fmt.Errorf("MCP server %q: %w", m.server, services.ErrNoToolServer)
		}
		listed, err := w.svcs.ToolServers.ListTools(ctx, m.server)
		if err != nil {
			return nil, err
		}
		for _, want := range m.tools {
			if !slices.ContainsFunc(listed, func(t services.Tool) bool { return t.Name == want }) {
				return nil, fmt.Errorf("MCP server %q has no tool %q", m.server, want)
			}
		}
		for _, t := range listed {
			if len(m.tools) > 0 && !slices.Contains(m.tools, t.Name) {
				continue
			}
			name := toolName(m.server + "_" + t.Name)
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("tools %q and %q of MCP server %q are both called %q", prev, t.Name, m.server, name)
			}
			seen[name] = t.Name
			out = append(out, boundTool{def: services.Tool{Name: name, Description: t.Description, Parameters: t.Parameters}, mcpServer: m.server, mcpTool: t.Name})
		}
	}
	return out, nil
}

// callTool runs the spell the model asked for. Failures go back to the model
// as the tool's result, so that it can correct its call; recursion and
// cancellation fail the node.
func (w *chatWorker) callTool(ctx context.Context, a *graph.Activation, tools []boundTool, tc services.ToolCall) (string, error) {
	var t *boundTool
	for i := range tools {
		if tools[i].def.Name == tc.Name {
			t = &tools[i]
		}
	}
	if t == nil {
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.def.Name
		}
		return fmt.Sprintf("error: there is no tool %q; the tools are %s", tc.Name, strings.Join(names, ", ")), nil
	}
	if t.spell == nil {
		return w.callMCPTool(ctx, t, tc)
	}
	inputs := map[string]any{}
	var args any
	if strings.TrimSpace(tc.Arguments) != "" {
		if err := json.Unmarshal([]byte(tc.Arguments), &args); err != nil {
			return fmt.Sprintf("error: the arguments are not JSON (%v); send a JSON object", err), nil
		}
	}
	obj, isObj := args.(map[string]any)
	matched := false
	if isObj {
		for k, v := range obj {
			inputs[k] = v
			for _, in := range t.inputs {
				if in == k {
					matched = true
				}
			}
		}
	}
	if !matched && len(t.inputs) == 1 && args != nil {
		// One input and arguments that do not name it: the whole of them
		// (or their only value) is that input.
		v := args
		if isObj && len(obj) == 1 {
			for _, only := range obj {
				v = only
			}
		}
		inputs[t.inputs[0]] = v
	}
	res, err := a.RunSpell(ctx, graph.SubRun{Spell: t.spell, Inputs: inputs})
	if err != nil {
		if errors.Is(err, graph.ErrRecursion) || ctx.Err() != nil {
			return "", err
		}
		return fmt.Sprintf("error: the tool failed: %v", err), nil
	}
	if len(res.Outputs) == 1 {
		for _, v := range res.Outputs {
			return text(v), nil
		}
	}
	return text(res.Outputs), nil
}

// callMCPTool calls an MCP server's tool. Its failures, and a call the
// server could not take, go back to the model; cancellation fails the node.
func (w *chatWorker) callMCPTool(ctx context.Context, t *boundTool, tc services.ToolCall) (string, error) {
	args := strings.TrimSpace(tc.Arguments)
	if args == "" {
		args = "{}"
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(args), &obj); err != nil {
		return fmt.Sprintf("error: the arguments are not a JSON object (%v); send one", err), nil
	}
	text, isError, err := w.svcs.ToolServers.CallTool(ctx, t.mcpServer, t.mcpTool, json.RawMessage(args))
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		return fmt.Sprintf("error: the tool could not be called: %v", err), nil
	case isError:
		return "error: " + text, nil
	}
	return text, nil
}

// toMessages reads a messages input: [{role, content, name}] (Magick
// events with sender and content count as user messages), or strings.
func toMessages(v any) ([]services.Message, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = x
	case []map[string]any:
		for _, m := range x {
			list = append(list, m)
		}
	case string:
		return []services.Message{{Role: "user", Content: x}}, nil
	case map[string]any:
		list = []any{x}
	default:
		return nil, fmt.Errorf("want a list of {role, content} messages, got %T", v)
	}
	out := make([]services.Message, 0, len(list))
	for i, e := range list {
		switch m := e.(type) {
		case string:
			out = append(out, services.Message{Role: "user", Content: m})
		case map[string]any:
			msg := services.Message{Role: text(m["role"]), Content: text(m["content"]), Name: text(m["name"])}
			if id, ok := m["toolCallId"].(string); ok {
				msg.ToolCallID = id
			}
			if calls, ok := m["toolCalls"].([]any); ok {
				for _, c := range calls {
					if cm, ok := c.(map[string]any); ok {
						msg.ToolCalls = append(msg.ToolCalls, services.ToolCall{ID: text(cm["id"]), Name: text(cm["name"]), Arguments: text(cm["arguments"])})
					}
				}
			}
			if msg.Role == "" {
				msg.Role = "user"
			}
			switch msg.Role {
			case "system", "user", "assistant", "tool":
			default:
				return nil, fmt.Errorf("message %d: role %q; want system, user, assistant or tool", i, msg.Role)
			}
			out = append(out, msg)
		default:
			return nil, fmt.Errorf("message %d: want {role, content}, got %T", i, e)
		}
	}
	return out, nil
}

// messagesValue turns messages into JSON-like values for an output port.
func messagesValue(msgs []services.Message) []any {
	out := make([]any, len(msgs))
	for i, m := range msgs {
		v := map[string]any{"role": m.Role, "content": m.Content}
		if m.Name != "" {
			v["name"] = m.Name
		}
		if m.ToolCallID != "" {
			v["toolCallId"] = m.ToolCallID
		}
		if len(m.ToolCalls) > 0 {
			calls := make([]any, len(m.ToolCalls))
			for j, c := range m.ToolCalls {
				calls[j] = map[string]any{"id": c.ID, "name": c.Name, "arguments": c.Arguments}
			}
			v["toolCalls"] = calls
		}
		out[i] = v
	}
	return out
}

func nonNil(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
