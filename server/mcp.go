package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	spellsmodel "github.com/grimoire-run/grimoire/projections/spells"
	grimoireauth "github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/services"
)

// This file is the Model Context Protocol side of the server (docs/mcp.md):
// every spell a user may run is a tool of theirs, beside three built-in
// tools. The SDK is imported here and, for the client side that Chat
// Completion nodes use, in services/mcpclient (decision 0010).

// KnowledgeSearch answers the search_knowledge tool: the k documents of a
// user's knowledge base (collection) nearest in meaning to a query.
// nodes.Services implements it.
type KnowledgeSearch interface {
	SearchKnowledge(ctx context.Context, user, collection, query string, k int) ([]services.SearchHit, error)
}

// The built-in tools. A spell whose id is one of these is offered as
// spellToolPrefix + id (spellToolName).
const (
	toolListSpells      = "list_spells"
	toolGetRun          = "get_run"
	toolSearchKnowledge = "search_knowledge"
	spellToolPrefix     = "spell_"
	// defaultSearchK is search_knowledge's k when the call gives none.
	defaultSearchK = 4
	// maxSearchK bounds search_knowledge's k.
	maxSearchK = 100
)

// Keys of a progress notification's _meta: the run and the node it is
// about; and of a spell call's result: how many notifications were sent.
const (
	progressRunIDMeta  = "grimoire.run/runId"
	progressNodeIDMeta = "grimoire.run/nodeId"
	progressSentMeta   = "grimoire.run/progressSent"
)

// maxMCPIdentities bounds the identities whose MCP servers are kept; past
// it, those without a session are forgotten.
const maxMCPIdentities = 4096

// mcpSessionIdle closes an MCP session that sent nothing for this long.
const mcpSessionIdle = 30 * time.Minute

// mcpTools serves MCP: one mcp.Server per identity (user and roles), whose
// tools are that identity's runnable spells, kept current from the spells
// read model. An identity's server only changes, and so only notifies its
// sessions (notifications/tools/list_changed), when a spell it may run
// changes: no session learns anything of a spell its user may not see.
type mcpTools struct {
	s       *Server
	handler *mcp.StreamableHTTPHandler

	mu      sync.Mutex
	servers map[string]*mcpIdentity

	// calls are the spell calls in progress by session id: ending a
	// session (DELETE) ends them, which the SDK's session close would
	// otherwise wait for.
	callsMu sync.Mutex
	calls   map[string]map[*mcpCall]struct{}

	stopWatch func()
	dirty     chan struct{} // a spell changed: resync pending identities
	pendMu    sync.Mutex
	pending   map[*mcpIdentity]struct{}
}

// mcpCall is a spell call in progress: who made it, and how to end it.
type mcpCall struct {
	identity string
	cancel   context.CancelFunc
}

// trackCall registers a call of a session; the returned context ends when
// the call does or the session is deleted.
func (t *mcpTools) trackCall(ctx context.Context, sessionID, identity string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	if sessionID == "" {
		return ctx, cancel
	}
	c := &mcpCall{identity: identity, cancel: cancel}
	t.callsMu.Lock()
	if t.calls[sessionID] == nil {
		t.calls[sessionID] = map[*mcpCall]struct{}{}
	}
	t.calls[sessionID][c] = struct{}{}
	t.callsMu.Unlock()
	return ctx, func() {
		cancel()
		t.callsMu.Lock()
		delete(t.calls[sessionID], c)
		if len(t.calls[sessionID]) == 0 {
			delete(t.calls, sessionID)
		}
		t.callsMu.Unlock()
	}
}

// endCalls ends the calls identity made in a session it is deleting.
func (t *mcpTools) endCalls(sessionID, identity string) {
	t.callsMu.Lock()
	defer t.callsMu.Unlock()
	for c := range t.calls[sessionID] {
		if c.identity == identity {
			c.cancel()
		}
	}
}

// mcpIdentity is the MCP server of one identity and the spell tools it
// offers now (tool name -> the spell's content hash and name, to tell a change).
type mcpIdentity struct {
	ident  grimoireauth.Identity
	server *mcp.Server

	mu    sync.Mutex
	tools map[string]string
}

func newMCPTools(s *Server) *mcpTools {
	t := &mcpTools{s: s, servers: map[string]*mcpIdentity{}, calls: map[string]map[*mcpCall]struct{}{}, dirty: make(chan struct{}, 1), pending: map[*mcpIdentity]struct{}{}}
	t.handler = mcp.NewStreamableHTTPHandler(t.serverFor, &mcp.StreamableHTTPOptions{
		Logger:         s.log,
		SessionTimeout: mcpSessionIdle,
		// Every request carries a bearer token, never a cookie: a page
		// that rebinds a name to loopback has no token to send.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        s.opts.Limits.MaxBodyBytes,
	})
	t.stopWatch = s.opts.Spells.Watch(t.spellChanged)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t.resyncLoop(s.ctx)
	}()
	return t
}

// mcpIdentityKey names an identity's server: its user and its roles, so that a
// session opened with one token is refused to a token with other rights.
func mcpIdentityKey(ident grimoireauth.Identity) string {
	roles := slices.Clone(ident.Roles)
	slices.Sort(roles)
	return ident.User + "\x00" + strings.Join(roles, ",")
}

// ServeHTTP is /mcp: the Streamable HTTP transport, behind the REST
// authentication.
func (t *mcpTools) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	if !ident.Expires.IsZero() {
		// As on the socket, what a token opened ends when it expires: the
		// standalone event stream of a session too.
		ctx, cancel := context.WithDeadline(r.Context(), ident.Expires)
		defer cancel()
		r = r.WithContext(ctx)
	}
	if r.Method == http.MethodDelete {
		// The client ends its session: its calls in progress end first
		// (and their runs are cancelled), since closing waits for them.
		t.endCalls(r.Header.Get("Mcp-Session-Id"), mcpIdentityKey(ident))
	}
	// The SDK checks that every request of a session comes from the
	// identity that opened it.
	tokenCheck := auth.RequireBearerToken(func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
		return &auth.TokenInfo{UserID: mcpIdentityKey(ident), Expiration: ident.Expires}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	tokenCheck(t.handler).ServeHTTP(w, r)
}

func (t *mcpTools) serverFor(r *http.Request) *mcp.Server {
	return t.identity(identityOf(r)).server
}

// identity returns ident's MCP server, building it on first use.
func (t *mcpTools) identity(ident grimoireauth.Identity) *mcpIdentity {
	key := mcpIdentityKey(ident)
	t.mu.Lock()
	id, ok := t.servers[key]
	if !ok {
		if len(t.servers) >= maxMCPIdentities {
			t.evictIdleLocked()
		}
		id = &mcpIdentity{ident: ident, tools: map[string]string{}}
		id.server = mcp.NewServer(&mcp.Implementation{Name: "grimoire", Title: "Grimoire spells", Version: "1"}, &mcp.ServerOptions{
			Instructions: "Each spell tool runs a Grimoire spell with the given inputs and answers its outputs. " +
				"list_spells lists them, get_run reads a run by id, search_knowledge searches a knowledge base.",
			Logger:       t.s.log,
			Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		})
		t.addBuiltins(id)
		// Its tools are read before it is seen: a spell change from now on
		// finds it in servers and resyncs it again.
		t.resync(context.Background(), id)
		t.servers[key] = id
	}
	t.mu.Unlock()
	return id
}

// evictIdleLocked forgets the identities that hold no session; a later
// request builds theirs again.
func (t *mcpTools) evictIdleLocked() {
	for key, id := range t.servers {
		idle := true
		for range id.server.Sessions() {
			idle = false
			break
		}
		if idle {
			delete(t.servers, key)
		}
	}
}

// spellChanged is the spells model's watcher: it marks for a resync every
// identity that may run the spell before or after the change.
func (t *mcpTools) spellChanged(c spellsmodel.Change) {
	t.mu.Lock()
	var touched []*mcpIdentity
	for _, id := range t.servers {
		if (c.Before != nil && !c.Before.Deleted && mayUse(id.ident, c.Before.Owner, c.Before.Sharing)) ||
			(!c.After.Deleted && mayUse(id.ident, c.After.Owner, c.After.Sharing)) {
			touched = append(touched, id)
		}
	}
	t.mu.Unlock()
	if len(touched) == 0 {
		return
	}
	t.pendMu.Lock()
	for _, id := range touched {
		t.pending[id] = struct{}{}
	}
	t.pendMu.Unlock()
	select {
	case t.dirty <- struct{}{}:
	default:
	}
}

func (t *mcpTools) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.dirty:
		}
		t.pendMu.Lock()
		ids := make([]*mcpIdentity, 0, len(t.pending))
		for id := range t.pending {
			ids = append(ids, id)
		}
		clear(t.pending)
		t.pendMu.Unlock()
		for _, id := range ids {
			t.resync(ctx, id)
		}
	}
}

// resync makes id's spell tools those it may run now; the SDK sends
// notifications/tools/list_changed to id's sessions when that changes them.
func (t *mcpTools) resync(ctx context.Context, id *mcpIdentity) {
	id.mu.Lock()
	defer id.mu.Unlock()
	want := map[string]bool{}
	for _, sp := range t.s.opts.Spells.List() {
		if !mayUse(id.ident, sp.Owner, sp.Sharing) {
			continue
		}
		name := spellToolName(sp.ID)
		want[name] = true
		fingerprint := sp.Hash + "\x00" + sp.Name
		if id.tools[name] == fingerprint {
			continue
		}
		tool, err := t.spellTool(ctx, sp)
		if err != nil {
			t.s.log.Warn("mcp: spell left out of the tools", "spell", sp.ID, "user", id.ident.User, "err", err)
			continue
		}
		id.server.AddTool(tool, t.callSpell(id.ident, sp.ID))
		id.tools[name] = fingerprint
	}
	dropTools(id.server, id.tools, want)
}

// dropTools removes from srv, and from have, each tool that want lacks.
func dropTools[V any](srv *mcp.Server, have map[string]V, want map[string]bool) {
	var gone []string
	for name := range have {
		if !want[name] {
			gone = append(gone, name)
			delete(have, name)
		}
	}
	if len(gone) > 0 {
		srv.RemoveTools(gone...)
	}
}

// spellToolName is a spell's tool name: its id, or spellToolPrefix + id
// for an id that is a built-in's name or starts with the prefix itself, so
// that no two spells, and no spell and built-in, share a name.
func spellToolName(spellID string) string {
	switch spellID {
	case toolListSpells, toolGetRun, toolSearchKnowledge:
		return spellToolPrefix + spellID
	}
	if strings.HasPrefix(spellID, spellToolPrefix) {
		return spellToolPrefix + spellID
	}
	return spellID
}

// spellTool describes a spell as a tool: its input schema from its Input
// nodes (graph.Spell.InputSchema).
func (t *mcpTools) spellTool(ctx context.Context, sp spellsmodel.Spell) (*mcp.Tool, error) {
	spell, _, err := t.s.opts.Library.Get(ctx, sp.ID)
	if err != nil {
		return nil, err
	}
	title := sp.Name
	if title == "" {
		title = sp.ID
	}
	desc := fmt.Sprintf("Runs the Grimoire spell %q (version %d", sp.ID, sp.Version)
	if sp.Owner != "" {
		desc += ", owned by " + sp.Owner
	}
	desc += ") and answers its outputs by name."
	if names := outputNames(spell.Signature(t.s.opts.Runner.Catalog)); names != "" {
		desc += " Outputs: " + names + "."
	}
	return &mcp.Tool{Name: spellToolName(sp.ID), Title: title, Description: desc, InputSchema: spell.InputSchema(t.s.opts.Runner.Catalog)}, nil
}

func outputNames(sig graph.Signature) string {
	names := make([]string, 0, len(sig.Outputs))
	for _, o := range sig.Outputs {
		names = append(names, o.Name)
	}
	return strings.Join(slices.Compact(names), ", ")
}

// toolError is a tool result that reports a failure to the model.
func toolError(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

// toolResult answers v as structured content and as its JSON text.
func toolResult(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return toolError("encode the result: %v", err)
	}
	return &mcp.CallToolResult{StructuredContent: json.RawMessage(b), Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
}

// errorText is an error as a client reads it: the REST error code and
// message (classify).
func (t *mcpTools) errorText(err error) string {
	ae := classify(err)
	if ae.code == codeInternal {
		t.s.log.Error("mcp tool call failed", "err", err)
	}
	return ae.code + ": " + ae.msg
}

// callSpell runs a spell as REST's mode=sync does: through the executor,
// under the per-user limit, recorded in the log and visible on the socket
// and SSE. Node ends are reported as progress when the call asks for it;
// a cancelled call cancels the run.
func (t *mcpTools) callSpell(ident grimoireauth.Identity, spellID string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s := t.s
		ctx, done := t.trackCall(ctx, req.Session.ID(), mcpIdentityKey(ident))
		defer done()
		inputs, order, err := decodeInputs(req.Params.Arguments)
		if err != nil {
			return toolError("%s", t.errorText(err)), nil
		}
		spell, v, err := s.opts.Library.Get(ctx, spellID)
		if err == nil && !mayUse(ident, v.Owner, v.Sharing) {
			err = forbidden(fmt.Sprintf("spell %q belongs to another user", spellID))
		}
		if err != nil {
			return toolError("%s", t.errorText(err)), nil
		}
		prog, err := s.compileLibrarySpell(spell)
		if err != nil {
			return toolError("%s", t.errorText(err)), nil
		}
		run, err := s.startRun(context.WithoutCancel(ctx), ident.User, runs.RunSpec{
			Program: prog, Inputs: inputs, InputOrder: order, Source: "mcp", Awaited: true,
		})
		if err != nil {
			return toolError("%s", t.errorText(err)), nil
		}
		var finishProgress func() int
		if token := req.Params.GetProgressToken(); token != nil {
			finishProgress = t.reportProgress(ctx, req.Session, token, run.ID(), len(spell.Nodes))
		}
		res, err := t.awaitRun(ctx, run, spell, spellID)
		if finishProgress != nil {
			sent := finishProgress()
			if res != nil {
				// A client that gets notifications after the result (the
				// Go SDK's may: `grimoire mcp` proxying) knows how many to
				// wait for.
				res.Meta = mcp.Meta{progressSentMeta: sent}
			}
		}
		return res, err
	}
}

// awaitRun waits for a spell call's run and answers its outcome.
func (t *mcpTools) awaitRun(ctx context.Context, run *runs.Run, spell *graph.Spell, spellID string) (*mcp.CallToolResult, error) {
	s := t.s
	// Closing a session waits for its calls: a shutdown ends the wait
	// (the run is the executor's, resumed at the next start).
	waitCtx, cancel := context.WithTimeout(ctx, s.opts.Limits.SyncTimeout)
	defer cancel()
	stopWaiting := make(chan struct{})
	defer close(stopWaiting)
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-stopWaiting:
		}
	}()
	out, err := run.Wait(waitCtx)
	if err != nil {
		select {
		case <-s.stopping:
			return toolError("the server is shutting down: run %s of spell %q continues when it starts again; read it then with get_run", run.ID(), spellID), nil
		default:
		}
		if ctx.Err() != nil {
			// The client cancelled the call (notifications/cancelled)
			// or deleted its session: the run stops too.
			s.opts.Executor.Cancel(run.ID(), "cancelled by the MCP client")
			return nil, ctx.Err()
		}
		return toolError("run %s of spell %q is still in progress after %s: read it later with get_run", run.ID(), spellID, s.opts.Limits.SyncTimeout), nil
	}
	switch out.Status {
	case runs.StatusCompleted:
		outputs := out.Outputs
		if outputs == nil {
			outputs = map[string]any{}
		}
		return toolResult(map[string]any{"runId": run.ID(), "status": out.Status, "outputs": outputs}), nil
	case runs.StatusWaiting:
		// An Ask node waits for a person: the run is not over, and the
		// call is not a failure.
		return toolResult(map[string]any{"runId": run.ID(), "status": out.Status,
			"message": fmt.Sprintf("run %s waits for an answer: read its question with get_run; answer with POST /v1/runs/%s/answers {nodeId, value}, the socket's run:answer or `grimoire answer`, then read its outputs with get_run", run.ID(), run.ID())}), nil
	case runs.StatusFailed:
		node := out.NodeID
		if n := spell.Node(out.NodeID); n != nil && n.Type != "" {
			node = fmt.Sprintf("%s (%s)", out.NodeID, n.Type)
		}
		return toolError("spell %q failed at node %s: %s (run %s)", spellID, node, out.Error, run.ID()), nil
	default:
		return toolError("run %s of spell %q was %s: %s", run.ID(), spellID, out.Status, out.Reason), nil
	}
}

// reportProgress sends a progress notification each time a node of the run
// (not of a sub-spell) ends for the first time: progress is the nodes done,
// total the spell's node count, the message names the node. The run's
// events come from its feed (the bus, gaps filled from the log); they are
// queued so that a slow client never holds up the feed.
func (t *mcpTools) reportProgress(ctx context.Context, session *mcp.ServerSession, token any, runID string, total int) (finish func() int) {
	var (
		mu     sync.Mutex
		queue  []*mcp.ProgressNotificationParams
		wake   = make(chan struct{}, 1)
		done   = map[string]bool{}
		sender = make(chan struct{})
	)
	ctx, cancel := context.WithCancel(ctx)
	sub, err := t.s.feeds.subscribe(ctx, runID, 0, func(m *runMessage) error {
		if len(m.Path) > 0 || done[m.NodeID] {
			return nil
		}
		var verb string
		switch m.Type {
		case protocol.NodeEnd:
			verb = "completed"
		case protocol.NodeError:
			verb = "failed"
		case protocol.NodeSkip:
			verb = "skipped"
		default:
			return nil
		}
		done[m.NodeID] = true
		msg := fmt.Sprintf("node %s %s", m.NodeID, verb)
		if m.NodeType != "" {
			msg = fmt.Sprintf("node %s (%s) %s", m.NodeID, m.NodeType, verb)
		}
		mu.Lock()
		queue = append(queue, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(len(done)), Total: float64(max(total, len(done))), Message: msg,
			Meta: mcp.Meta{progressRunIDMeta: runID, progressNodeIDMeta: m.NodeID}})
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		t.s.log.Warn("mcp: follow run for progress", "run", runID, "err", err)
		cancel()
		return func() int { return 0 }
	}
	// One goroutine sends, so that notifications leave in progress order.
	last := make(chan struct{})
	sent := 0
	go func() {
		defer close(sender)
		for {
			final := false
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-last:
				final = true
			}
			mu.Lock()
			batch := queue
			queue = nil
			mu.Unlock()
			for _, p := range batch {
				if err := session.NotifyProgress(ctx, p); err != nil {
					return
				}
				sent++
			}
			if final {
				return
			}
		}
	}()
	return func() int {
		// The run is durable when it ends, but its last events may still
		// be on their way from the bus: they are read from the store and
		// go out before the result.
		if err := sub.drain(ctx); err != nil && ctx.Err() == nil {
			t.s.log.Warn("mcp: read the run's last events for progress", "run", runID, "err", err)
		}
		sub.cancel()
		close(last)
		<-sender
		cancel()
		return sent
	}
}

func (t *mcpTools) addBuiltins(id *mcpIdentity) {
	ident := id.ident
	id.server.AddTool(&mcp.Tool{
		Name:        toolListSpells,
		Title:       "List spells",
		Description: "Lists the spells you may run (each is also a tool of its own): id, name, version, owner, inputs and outputs.",
		InputSchema: map[string]any{"type": "object", "properties": map[string]any{}},
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return toolResult(map[string]any{"spells": t.listSpells(ctx, ident)}), nil
	})
	id.server.AddTool(&mcp.Tool{
		Name:        toolGetRun,
		Title:       "Get a run",
		Description: "Reads a run by id: its status, inputs, outputs, error and every node's status.",
		InputSchema: map[string]any{"type": "object", "required": []string{"runId"}, "properties": map[string]any{
			"runId": map[string]any{"type": "string", "description": "the run's id, as a spell tool's result gives it"},
		}},
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args struct {
			RunID string `json:"runId"`
		}
		if err := decodeToolArgs(req.Params.Arguments, &args); err != nil {
			return toolError("%v", err), nil
		}
		if args.RunID == "" {
			return toolError("runId is required"), nil
		}
		view, err := t.s.readRun(ctx, ident, args.RunID)
		if err != nil {
			return toolError("%s", t.errorText(err)), nil
		}
		return toolResult(view), nil
	})
	id.server.AddTool(&mcp.Tool{
		Name:        toolSearchKnowledge,
		Title:       "Search knowledge",
		Description: "Searches one of your knowledge bases by meaning: the k documents nearest to the query, best first, with scores.",
		InputSchema: map[string]any{"type": "object", "required": []string{"query"}, "properties": map[string]any{
			"query":      map[string]any{"type": "string", "description": "what to search for"},
			"collection": map[string]any{"type": "string", "description": "the knowledge base (default \"default\")"},
			"k":          map[string]any{"type": "integer", "minimum": 1, "maximum": maxSearchK, "default": defaultSearchK, "description": "how many documents at most"},
		}},
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args struct {
			Query      string `json:"query"`
			Collection string `json:"collection"`
			K          *int   `json:"k"`
		}
		if err := decodeToolArgs(req.Params.Arguments, &args); err != nil {
			return toolError("%v", err), nil
		}
		if t.s.opts.Knowledge == nil {
			return toolError("this server has no knowledge service configured: search_knowledge is unavailable"), nil
		}
		k := defaultSearchK
		if args.K != nil {
			k = *args.K
		}
		if k < 1 || k > maxSearchK {
			return toolError("k is %d: it must be from 1 to %d", k, maxSearchK), nil
		}
		hits, err := t.s.opts.Knowledge.SearchKnowledge(ctx, ident.User, args.Collection, args.Query, k)
		if err != nil {
			return toolError("search_knowledge: %v", err), nil
		}
		docs := make([]map[string]any, 0, len(hits))
		for _, h := range hits {
			d := map[string]any{"id": h.ID, "text": h.Text, "score": h.Score}
			if len(h.Metadata) > 0 {
				d["metadata"] = h.Metadata
			}
			docs = append(docs, d)
		}
		return toolResult(map[string]any{"documents": docs}), nil
	})
}

// decodeToolArgs reads a built-in tool's arguments, refusing unknown ones.
func decodeToolArgs(raw json.RawMessage, into any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("arguments: %v", err)
	}
	return nil
}

// mcpSpell is one entry of list_spells.
type mcpSpell struct {
	ID      string                `json:"id"`
	Tool    string                `json:"tool"`
	Name    string                `json:"name,omitempty"`
	Version int                   `json:"version"`
	Owner   string                `json:"owner,omitempty"`
	Inputs  []graph.SignaturePort `json:"inputs"`
	Outputs []graph.SignaturePort `json:"outputs"`
}

func (t *mcpTools) listSpells(ctx context.Context, ident grimoireauth.Identity) []mcpSpell {
	out := []mcpSpell{}
	for _, sp := range t.s.opts.Spells.List() {
		if !mayUse(ident, sp.Owner, sp.Sharing) {
			continue
		}
		e := mcpSpell{ID: sp.ID, Tool: spellToolName(sp.ID), Name: sp.Name, Version: sp.Version, Owner: sp.Owner, Inputs: []graph.SignaturePort{}, Outputs: []graph.SignaturePort{}}
		if spell, _, err := t.s.opts.Library.Get(ctx, sp.ID); err == nil {
			sig := spell.Signature(t.s.opts.Runner.Catalog)
			e.Inputs, e.Outputs = sig.Inputs, sig.Outputs
		}
		out = append(out, e)
	}
	return out
}

// closeSessions ends every MCP session (the server is stopping).
func (t *mcpTools) closeSessions() {
	t.mu.Lock()
	ids := make([]*mcpIdentity, 0, len(t.servers))
	for _, id := range t.servers {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	for _, id := range ids {
		for ss := range id.server.Sessions() {
			ss.Close()
		}
	}
}

func (t *mcpTools) close() {
	t.stopWatch()
	t.closeSessions()
}

// ServeMCP serves ident's tools over one connection made of in and out
// (newline-delimited JSON-RPC, the stdio transport), until the client
// closes in or ctx ends. `grimoire mcp` serves the operator's spells so.
func (s *Server) ServeMCP(ctx context.Context, ident grimoireauth.Identity, in io.ReadCloser, out io.WriteCloser) error {
	id := s.mcp.identity(ident)
	err := id.server.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// readRun is GET /v1/runs/{id}: the run folded from its stream, after
// checking that ident may read it.
func (s *Server) readRun(ctx context.Context, ident grimoireauth.Identity, runID string) (runView, error) {
	if _, err := s.runOwner(ctx, ident, runID); err != nil {
		return runView{}, err
	}
	evs, err := s.opts.Store.ReadStream(ctx, events.RunStream(runID), events.Start, events.Forwards, 0)
	if err != nil {
		return runView{}, err
	}
	return foldRun(evs)
}
