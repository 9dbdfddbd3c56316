package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/cache"
	"github.com/grimoire-run/grimoire/projections/history"
	runsmodel "github.com/grimoire-run/grimoire/projections/runs"
	"github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
)

// Analysts is what the analyst API reads (Options.Analysts): the read
// models and the projection runner that feeds them. Every field is
// optional; a route whose model is missing answers 503. Projections and
// Cache also feed /metrics.
type Analysts struct {
	Runs        *runsmodel.Model
	Usage       *usage.Model
	Cache       *cache.Model
	Projections *projections.Runner
}

func (s *Server) analysts() *Analysts { return &s.opts.Analysts }

func unavailable(what string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: what + " is not configured on this server"}
}

func isAnalyst(id auth.Identity) bool { return id.HasRole("analyst") || id.HasRole("admin") }

// analystRoutes adds the read-side API for analysts: run listing and
// filtering, per-node timelines, usage, the global log, projections, fork.
func (s *Server) analystRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/runs", s.authenticated(s.handleListRuns))
	mux.HandleFunc("GET /v1/runs/{id}/timeline", s.authenticated(s.handleRunTimeline))
	mux.HandleFunc("POST /v1/runs/{id}/fork", s.authenticated(s.handleForkRun))
	mux.HandleFunc("GET /v1/usage", s.authenticated(s.handleUsage))
	mux.HandleFunc("GET /v1/events", s.authenticated(s.handleGlobalEvents))
	mux.HandleFunc("GET /v1/projections", s.authenticated(s.handleProjections))
	mux.HandleFunc("POST /v1/projections/{name}/rebuild", s.authenticated(s.handleRebuildProjection))
	// The socket's equivalent of POST /v1/runs/{id}/fork.
	socket.Handle(s.sockets, "run:fork", s.onRunFork)
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest(fmt.Sprintf("%s=%q: want RFC 3339 (2026-11-26T10:00:00Z) or a date (2026-11-26)", name, raw))
}

// handleListRuns: GET /v1/runs?spell=&user=&status=&since=&until=&limit=&cursor=.
// Users see their own runs; analysts and admins anyone's.
func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) {
	model := s.analysts().Runs
	if model == nil {
		s.writeError(w, r, unavailable("the runs read model"))
		return
	}
	q := r.URL.Query()
	ident := identityOf(r)
	f := runsmodel.Filter{SpellID: q.Get("spell"), User: q.Get("user"), Status: q.Get("status"), Cursor: q.Get("cursor")}
	if !isAnalyst(ident) {
		if f.User != "" && f.User != ident.User {
			s.writeError(w, r, forbidden("only analysts may list other users' runs"))
			return
		}
		f.User = ident.User
	}
	var err error
	if f.Since, err = timeParam(r, "since"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Until, err = timeParam(r, "until"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if raw := q.Get("limit"); raw != "" {
		if f.Limit, err = strconv.Atoi(raw); err != nil || f.Limit < 1 {
			s.writeError(w, r, badRequest(fmt.Sprintf("limit=%q: want a positive number (at most 1000)", raw)))
			return
		}
	}
	page, err := model.List(f)
	if errors.Is(err, runsmodel.ErrBadCursor) {
		s.writeError(w, r, badRequest(err.Error()))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if page.Runs == nil {
		page.Runs = []runsmodel.Run{}
	}
	writeJSON(w, http.StatusOK, page)
}

// handleRunTimeline: GET /v1/runs/{id}/timeline, each activation's status,
// start, duration and outputs.
func (s *Server) handleRunTimeline(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.runOwner(r.Context(), identityOf(r), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	tl, err := history.LoadTimeline(r.Context(), s.opts.Store, id)
	if errors.Is(err, history.ErrNotFound) {
		s.writeError(w, r, notFound(err.Error()))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tl)
}

// handleUsage: GET /v1/usage?user=&spell=&model=&since=&until=&group_by=user,spell,model,day.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	model := s.analysts().Usage
	if model == nil {
		s.writeError(w, r, unavailable("the usage read model"))
		return
	}
	q := r.URL.Query()
	ident := identityOf(r)
	uq := usage.Query{User: q.Get("user"), SpellID: q.Get("spell"), Model: q.Get("model")}
	if !isAnalyst(ident) {
		if uq.User != "" && uq.User != ident.User {
			s.writeError(w, r, forbidden("only analysts may read other users' usage"))
			return
		}
		uq.User = ident.User
	}
	var err error
	if uq.Since, err = timeParam(r, "since"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if uq.Until, err = timeParam(r, "until"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if g := q.Get("group_by"); g != "" {
		uq.GroupBy = strings.Split(g, ",")
	}
	rep, err := model.Report(uq)
	if errors.Is(err, usage.ErrBadGroup) {
		s.writeError(w, r, badRequest(err.Error()))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// handleGlobalEvents: GET /v1/events?from=POSITION&type=A,B&stream_prefix=run-&limit=N
// (analysts). NDJSON of stored events from position from (inclusive); with
// Accept: text/event-stream (or follow=true) it follows the log live as
// Server-Sent Events whose ids are positions, resuming after
// Last-Event-ID.
func (s *Server) handleGlobalEvents(w http.ResponseWriter, r *http.Request) {
	if !isAnalyst(identityOf(r)) {
		s.writeError(w, r, forbidden("reading the global log needs the analyst role"))
		return
	}
	q := r.URL.Query()
	var from uint64 = 1
	if raw := q.Get("from"); raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			s.writeError(w, r, badRequest(fmt.Sprintf("from=%q: want a log position", raw)))
			return
		}
		from = max(n, 1)
	}
	if raw := q.Get("tail"); raw != "" {
		if q.Get("from") != "" {
			s.writeError(w, r, badRequest("send from or tail, not both"))
			return
		}
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil {
			s.writeError(w, r, badRequest(fmt.Sprintf("tail=%q: want a number of events", raw)))
			return
		}
		head, err := projections.Head(r.Context(), s.opts.Store)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		from = head - min(head, n) + 1
	}
	filter := events.SubscribeOptions{}
	for _, p := range q["stream_prefix"] {
		filter.StreamPrefixes = append(filter.StreamPrefixes, strings.Split(p, ",")...)
	}
	for _, t := range q["type"] {
		filter.EventTypes = append(filter.EventTypes, strings.Split(t, ",")...)
	}
	limit := 0
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			s.writeError(w, r, badRequest(fmt.Sprintf("limit=%q: want a positive number", raw)))
			return
		}
		limit = n
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") || q.Get("follow") == "true" {
		if last := r.Header.Get("Last-Event-ID"); last != "" {
			if n, err := strconv.ParseUint(last, 10, 64); err == nil {
				from = n + 1
			}
		}
		s.followLog(w, r, from, filter)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	written := 0
	const page = 1024
	for {
		recs, err := s.opts.Store.ReadAll(r.Context(), from, page)
		if err != nil {
			if written == 0 {
				s.writeError(w, r, err)
			}
			return
		}
		for _, e := range recs {
			if !filter.Matches(e) {
				continue
			}
			if err := enc.Encode(e); err != nil {
				return
			}
			written++
			if limit > 0 && written >= limit {
				return
			}
		}
		if len(recs) < page {
			return
		}
		from = recs[len(recs)-1].Position + 1
	}
}

// followLog streams the log from position from as SSE until the client
// goes away.
func (s *Server) followLog(w http.ResponseWriter, r *http.Request, from uint64, filter events.SubscribeOptions) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, errors.New("streaming unsupported by this connection"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	filter.After = from - 1
	sub, err := s.opts.Store.Subscribe(ctx, filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": global log from %d\n\n", from)
	flusher.Flush()

	type next struct {
		e   events.RecordedEvent
		err error
	}
	ch := make(chan next)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := sub.Next(ctx)
			select {
			case ch <- next{e, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	expired, stopExpiry := tokenExpiry(r)
	defer stopExpiry()
	for {
		select {
		case <-expired:
			fmt.Fprint(w, tokenExpiredEvent)
			flusher.Flush()
			return
		case n := <-ch:
			if n.err != nil {
				return
			}
			data, _ := json.Marshal(n.e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", n.e.Position, n.e.Type, data)
			flusher.Flush()
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

type forkRequest struct {
	FromNode string          `json:"fromNode"`
	Inputs   json.RawMessage `json:"inputs,omitempty"`
	// Cache false: no node of the fork comes from the node-output cache
	// (those the parent did not run included). The fork's node and
	// everything downstream of it run again in any case.
	Cache *bool `json:"cache"`
}

type forkResponse struct {
	OK          bool     `json:"ok"`
	RunID       string   `json:"runId"`
	ParentRunID string   `json:"parentRunId"`
	FromNode    string   `json:"fromNode"`
	Recompute   []string `json:"recompute"`
	Status      string   `json:"status"`
}

// startFork plans and starts a fork of run parent for ident: when it
// returns, the new run's stream exists. The run goes on in the background
// until it ends or the server closes.
func (s *Server) startFork(ctx context.Context, ident auth.Identity, parent string, req forkRequest) (forkResponse, error) {
	if _, err := s.runOwner(ctx, ident, parent); err != nil {
		return forkResponse{}, err
	}
	if req.FromNode == "" {
		return forkResponse{}, badRequest("fromNode is required")
	}
	inputs, _, err := decodeInputs(req.Inputs)
	if err != nil {
		return forkResponse{}, err
	}
	load := func(ctx context.Context, id, hash string) (*graph.Spell, error) {
		sp, _, err := s.opts.Library.GetVersion(ctx, id, hash)
		return sp, err
	}
	plan, err := history.PlanFork(ctx, s.opts.Store, s.opts.Runner, load, history.ForkRequest{ParentRunID: parent, FromNode: req.FromNode, Inputs: inputs})
	if errors.Is(err, history.ErrNoSuchNode) {
		return forkResponse{}, badRequest(err.Error())
	}
	if err != nil {
		return forkResponse{}, err
	}
	spec := runs.ForkSpec(plan, "", ident.User)
	spec.NoCache = noCache(req.Cache)
	run, err := s.startRun(ctx, ident.User, spec)
	if err != nil {
		return forkResponse{}, err
	}
	return forkResponse{OK: true, RunID: run.ID(), ParentRunID: parent, FromNode: req.FromNode, Recompute: plan.Recompute, Status: "started"}, nil
}

// handleForkRun: POST /v1/runs/{id}/fork {"fromNode": ID, "inputs": {...}}
// starts a run that reuses the recorded outputs of everything upstream of
// fromNode and recomputes the rest; 202 with the new run's id (follow it
// with GET /v1/runs/{id}/events).
func (s *Server) handleForkRun(w http.ResponseWriter, r *http.Request) {
	var req forkRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.writeError(w, r, badRequest("body: want {\"fromNode\": NODE_ID, \"inputs\": {...}}: "+err.Error()))
		return
	}
	resp, err := s.startFork(r.Context(), identityOf(r), r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+resp.RunID)
	writeJSON(w, http.StatusAccepted, resp)
}

type runForkRequest struct {
	RunID    string          `json:"runId"`
	FromNode string          `json:"fromNode"`
	Inputs   json.RawMessage `json:"inputs,omitempty"`
	Cache    *bool           `json:"cache"`
}

// onRunFork is the socket's run:fork {runId, fromNode, inputs}: it starts
// the fork and subscribes the socket to it, as spell:run does; the ack is
// {ok, runId, parentRunId, fromNode, recompute}.
func (s *Server) onRunFork(ctx context.Context, c socket.Conn, req runForkRequest) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	resp, err := s.startFork(ctx, c.Identity(), req.RunID, forkRequest{FromNode: req.FromNode, Inputs: req.Inputs, Cache: req.Cache})
	if err != nil {
		return nil, s.socketError("run:fork", err)
	}
	if err := s.follow(ctx, m, resp.RunID, 0); err != nil {
		return nil, s.socketError("run:fork", err)
	}
	return resp, nil
}

// handleProjections: GET /v1/projections, each read model's checkpoint,
// lag and health (analysts).
func (s *Server) handleProjections(w http.ResponseWriter, r *http.Request) {
	if !isAnalyst(identityOf(r)) {
		s.writeError(w, r, forbidden("projection status needs the analyst role"))
		return
	}
	p := s.analysts().Projections
	if p == nil {
		s.writeError(w, r, unavailable("the projection runner"))
		return
	}
	st, err := p.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := map[string]any{"projections": st}
	if c := s.analysts().Cache; c != nil {
		resp["cache"] = c.Stats()
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleRebuildProjection: POST /v1/projections/{name}/rebuild (admins)
// drops the read model and replays the log into it while the server keeps
// serving; 202 once the reset is done.
func (s *Server) handleRebuildProjection(w http.ResponseWriter, r *http.Request) {
	if !identityOf(r).HasRole("admin") {
		s.writeError(w, r, forbidden("rebuilding a projection needs the admin role"))
		return
	}
	p := s.analysts().Projections
	if p == nil {
		s.writeError(w, r, unavailable("the projection runner"))
		return
	}
	name := r.PathValue("name")
	if err := p.Rebuild(r.Context(), name); err != nil {
		if errors.Is(err, projections.ErrNoProjection) {
			s.writeError(w, r, notFound(err.Error()))
			return
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"projection": name, "status": "rebuilding"})
}

// projectionMetrics exports projection lag and health, and cache use, at
// scrape time.
type projectionMetrics struct {
	proj  *projections.Runner
	cache *cache.Model
}

var (
	descCheckpoint = prometheus.NewDesc("grimoire_projection_checkpoint", "Global log position of the last event a projection applied.", []string{"projection"}, nil)
	descLag        = prometheus.NewDesc("grimoire_projection_lag_events", "Log positions a projection is behind the head.", []string{"projection"}, nil)
	descHealthy    = prometheus.NewDesc("grimoire_projection_healthy", "1 when the projection's last attempt succeeded, 0 after a failure.", []string{"projection"}, nil)
	descHandled    = prometheus.NewDesc("grimoire_projection_events_handled_total", "Events a projection applied since the process started.", []string{"projection"}, nil)
	descHead       = prometheus.NewDesc("grimoire_event_log_head", "Position of the last event in the global log.", nil, nil)
	descCacheHits  = prometheus.NewDesc("grimoire_node_cache_lookups_total", "Node-output cache lookups by result.", []string{"result"}, nil)
	descCacheSize  = prometheus.NewDesc("grimoire_node_cache_entries", "Entries in the node-output cache.", nil, nil)
	descCacheBytes = prometheus.NewDesc("grimoire_node_cache_bytes", "Bytes of outputs held by the node-output cache.", nil, nil)
)

func (m *projectionMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCheckpoint, descLag, descHealthy, descHandled, descHead, descCacheHits, descCacheSize, descCacheBytes} {
		ch <- d
	}
}

func (m *projectionMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.proj != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := m.proj.Status(ctx)
		cancel()
		if err == nil {
			var head uint64
			for _, p := range st {
				healthy := 0.0
				if p.Healthy {
					healthy = 1
				}
				ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(p.Checkpoint), p.Name)
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(p.Lag), p.Name)
				ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, healthy, p.Name)
				ch <- prometheus.MustNewConstMetric(descHandled, prometheus.CounterValue, float64(p.Handled), p.Name)
				head = max(head, p.Head)
			}
			ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
		}
	}
	if m.cache != nil {
		cs := m.cache.Stats()
		ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(cs.Hits), "hit")
		ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(cs.Misses), "miss")
		ch <- prometheus.MustNewConstMetric(descCacheSize, prometheus.GaugeValue, float64(cs.Entries))
		ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(cs.Bytes))
	}
}
