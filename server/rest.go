package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	spellsmodel "github.com/grimoire-run/grimoire/projections/spells"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/runs"
)

type identityKey struct{}

func identityOf(r *http.Request) auth.Identity {
	id, _ := r.Context().Value(identityKey{}).(auth.Identity)
	return id
}

// authenticated requires a valid bearer token.
func (s *Server) authenticated(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="grimoire"`)
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, msg: "send Authorization: Bearer <token> (grimoire token create --user NAME)"})
			return
		}
		ident, err := s.opts.Verifier.Verify(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="grimoire", error="invalid_token"`)
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, msg: err.Error()})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.Limits.MaxBodyBytes)
		withBodyDeadline(w, r, s.opts.Limits.BodyTimeout)
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, ident)))
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.sockets)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDocument)
	})
	mux.HandleFunc("PUT /v1/spells/{id}", s.authenticated(s.handlePutSpell))
	mux.HandleFunc("GET /v1/spells/{id}", s.authenticated(s.handleGetSpell))
	mux.HandleFunc("DELETE /v1/spells/{id}", s.authenticated(s.handleDeleteSpell))
	mux.HandleFunc("GET /v1/spells/{id}/sharing", s.authenticated(s.handleGetSharing))
	mux.HandleFunc("PUT /v1/spells/{id}/sharing", s.authenticated(s.handlePutSharing))
	mux.HandleFunc("GET /v1/spells", s.authenticated(s.handleListSpells))
	mux.HandleFunc("POST /v1/spells/{id}/runs", s.authenticated(s.handleRunSpell))
	mux.HandleFunc("GET /v1/spells/{id}/state", s.authenticated(s.handleGetSpellState))
	mux.HandleFunc("GET /v1/runs/{id}", s.authenticated(s.handleGetRun))
	mux.HandleFunc("GET /v1/runs/{id}/events", s.authenticated(s.handleRunEvents))
	mux.HandleFunc("DELETE /v1/runs/{id}", s.authenticated(s.handleCancelRun))
	mux.HandleFunc("POST /v1/runs/{id}/answers", s.authenticated(s.handleAnswer))
	mux.Handle("/mcp", s.authenticated(s.mcp.ServeHTTP))
	s.analystRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			writeJSON(w, http.StatusOK, map[string]string{"service": "grimoire", "api": "/openapi.json", "socket": "/socket.io/"})
			return
		}
		s.writeError(w, r, notFound(fmt.Sprintf("no route %s %s: see /openapi.json", r.Method, r.URL.Path)))
	})
	return s.metrics.instrument(mux)
}

// handleReady answers 200 when the store answers and no read model is
// stuck, else 503 with what is wrong: a projection that fails at every
// retry (for example on an event whose blob this process cannot read)
// leaves this process's read models behind the log for good.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.opts.Store.ReadAll(ctx, events.Start, 1); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": err.Error()})
		return
	}
	if proj := s.opts.Analysts.Projections; proj != nil {
		if stuck := proj.Stuck(); len(stuck) > 0 {
			type stuckProjection struct {
				Name      string `json:"name"`
				LastError string `json:"lastError"`
				Failures  int    `json:"failures"`
			}
			out := make([]stuckProjection, len(stuck))
			for i, st := range stuck {
				out[i] = stuckProjection{Name: st.Name, LastError: st.LastError, Failures: st.Failures}
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "projections": out})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type spellSaved struct {
	SpellID string `json:"spellId"`
	Version int    `json:"version"`
	Hash    string `json:"hash"`
}

func (s *Server) handlePutSpell(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	spell, v, err := s.saveSpellDocument(r.Context(), identityOf(r), r.PathValue("id"), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(v.Hash))
	writeJSON(w, http.StatusOK, spellSaved{SpellID: spell.ID, Version: v.Version, Hash: v.Hash})
}

func (s *Server) handleGetSpell(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	spell, v, err := s.opts.Library.Get(r.Context(), id)
	if hash := r.URL.Query().Get("hash"); hash != "" && err == nil {
		spell, v, err = s.opts.Library.GetVersion(r.Context(), id, hash)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !mayRead(identityOf(r), v.Owner, v.Sharing) {
		s.writeError(w, r, forbidden(fmt.Sprintf("spell %q belongs to another user", id)))
		return
	}
	doc, err := graph.MarshalSpell(spell)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(v.Hash))
	w.Header().Set("Grimoire-Spell-Version", strconv.Itoa(v.Version))
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// handleGetSpellState answers the caller's state of a spell (Thoth's game
// state): the spell's gameState with every State Write of the caller's runs
// applied, as the next run will see it.
func (s *Server) handleGetSpellState(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	id := r.PathValue("id")
	spell, v, err := s.opts.Library.Get(r.Context(), id)
	if err == nil && !mayUse(ident, v.Owner, v.Sharing) {
		err = forbidden(fmt.Sprintf("spell %q belongs to another user", id))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	state, err := s.opts.Executor.SpellState(r.Context(), spell, ident.User)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"spellId": spell.ID, "owner": ident.User, "state": state})
}

func (s *Server) handleDeleteSpell(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	id := r.PathValue("id")
	_, v, err := s.opts.Library.Get(r.Context(), id)
	if err == nil && !mayModify(ident, v.Owner) {
		err = forbidden(fmt.Sprintf("spell %q belongs to %s", id, ownerName(v.Owner)))
	}
	if err == nil {
		err = s.opts.Library.Delete(r.Context(), id, libraryUser(ident))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListSpells(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	out := []spellsmodel.Spell{}
	for _, sp := range s.opts.Spells.List() {
		if mayRead(ident, sp.Owner, sp.Sharing) {
			out = append(out, sp)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"spells": out})
}

type runRequestBody struct {
	Inputs     json.RawMessage `json:"inputs"`
	Entry      string          `json:"entry"`
	RunID      string          `json:"runId"`
	InputOrder []string        `json:"inputOrder"`
	// Cache false runs every node, even those the node-output cache holds.
	Cache *bool `json:"cache"`
	// AllowExtraInputs accepts inputs that no Input node reads; without it
	// such an input (a typo, usually) is refused with invalid_inputs.
	AllowExtraInputs bool `json:"allowExtraInputs"`
}

// noCache reads a request's "cache" field: only an explicit false turns the
// node-output cache off.
func noCache(cache *bool) bool { return cache != nil && !*cache }

// decodeInputs reads a JSON object of inputs, keeping its key order (the
// first picks Magick's entry Input).
func decodeInputs(raw json.RawMessage) (map[string]any, []string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return map[string]any{}, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, badRequest("inputs must be a JSON object keyed by Input name")
	}
	inputs := map[string]any{}
	var order []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, badRequest("inputs: " + err.Error())
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, badRequest(fmt.Sprintf("inputs.%v: %v", k, err))
		}
		name := k.(string)
		if _, dup := inputs[name]; !dup {
			order = append(order, name)
		}
		inputs[name] = v
	}
	return inputs, order, nil
}

type syncRunResponse struct {
	RunID   string         `json:"runId"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs,omitempty"`
	Error   *errorDetail   `json:"error,omitempty"`
	NodeID  string         `json:"nodeId,omitempty"`
}

func (s *Server) handleRunSpell(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	mode := r.URL.Query().Get("mode")
	if mode == "" {
		mode = "sync"
	}
	if mode != "sync" && mode != "async" && mode != "stream" {
		s.writeError(w, r, badRequest("mode must be sync, async or stream"))
		return
	}
	var body runRequestBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, badRequest("body must be {\"inputs\": {...}, \"entry\"?: \"...\"}: "+err.Error()))
		return
	}
	inputs, order, err := decodeInputs(body.Inputs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(body.InputOrder) > 0 {
		order = body.InputOrder
	}
	if body.RunID != "" && !runIDPattern.MatchString(body.RunID) {
		s.writeError(w, r, badRequest("runId: use 8-64 letters, digits, '-' or '_'"))
		return
	}
	id := r.PathValue("id")
	spell, v, err := s.opts.Library.Get(r.Context(), id)
	if err == nil && !mayUse(ident, v.Owner, v.Sharing) {
		err = forbidden(fmt.Sprintf("spell %q belongs to another user", id))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	prog, err := s.compileLibrarySpell(spell)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The run outlives an async request: it belongs to the executor.
	run, err := s.startRun(context.WithoutCancel(r.Context()), ident.User, runs.RunSpec{
		RunID: body.RunID, Program: prog, Inputs: inputs, InputOrder: order, Entry: body.Entry,
		Source: "rest", CorrelationID: r.Header.Get("X-Request-Id"), NoCache: noCache(body.Cache),
		Awaited: mode == "sync", AllowExtraInputs: body.AllowExtraInputs,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch mode {
	case "async":
		w.Header().Set("Location", "/v1/runs/"+run.ID())
		writeJSON(w, http.StatusAccepted, map[string]string{"runId": run.ID(), "status": "running"})
	case "stream":
		s.streamRun(w, r, run.ID(), 0)
	default:
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.Limits.SyncTimeout)
		defer cancel()
		out, err := run.Wait(ctx)
		if err != nil {
			w.Header().Set("Location", "/v1/runs/"+run.ID())
			writeJSON(w, http.StatusAccepted, map[string]string{"runId": run.ID(), "status": "running",
				"message": "the run is still in progress: follow it at /v1/runs/" + run.ID()})
			return
		}
		resp := syncRunResponse{RunID: run.ID(), Status: out.Status, Outputs: out.Outputs}
		status := http.StatusOK
		switch out.Status {
		case runs.StatusCompleted:
			if resp.Outputs == nil {
				resp.Outputs = map[string]any{}
			}
		case runs.StatusFailed:
			status = http.StatusUnprocessableEntity
			resp.Error, resp.NodeID = &errorDetail{Code: "run_failed", Message: out.Error}, out.NodeID
		case runs.StatusWaiting:
			// It waits for a person: answer, then follow it.
			w.Header().Set("Location", "/v1/runs/"+run.ID())
			status = http.StatusAccepted
		default:
			status = http.StatusConflict
			resp.Error = &errorDetail{Code: "run_" + out.Status, Message: out.Reason}
		}
		writeJSON(w, status, resp)
	}
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	view, err := s.readRun(r.Context(), identityOf(r), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Server) handleCancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.cancelRun(r.Context(), identityOf(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"runId": id, "status": "cancelling"})
}

func (s *Server) handleRunEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.runOwner(r.Context(), identityOf(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := afterParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamRun(w, r, id, after)
		return
	}
	evs, err := s.opts.Store.ReadStream(r.Context(), events.RunStream(id), after, events.Forwards, 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range evs {
		m, ok, err := protocol.FromEvent(e)
		if err != nil || !ok || m.Seq <= after {
			continue
		}
		if m.Type == protocol.RunCompleted {
			// The same message as on the socket and in SSE: with every
			// node's cached outputs, from the whole stream.
			stream := evs
			if after > 0 {
				stream, err = s.opts.Store.ReadStream(r.Context(), events.RunStream(id), events.Start, events.Forwards, 0)
			}
			if err == nil {
				m.Nodes, err = protocol.NodeResults(stream)
			}
			if err != nil {
				s.log.Error("run:completed node results", "run", id, "err", err)
				return
			}
		}
		if err := enc.Encode(m); err != nil {
			return
		}
	}
}

// afterParam reads ?after=SEQ, or an SSE client's Last-Event-ID.
func afterParam(r *http.Request) (uint64, error) {
	raw := r.URL.Query().Get("after")
	if raw == "" {
		raw = r.Header.Get("Last-Event-ID")
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, badRequest(fmt.Sprintf("after=%q: want a sequence number", raw))
	}
	return n, nil
}
