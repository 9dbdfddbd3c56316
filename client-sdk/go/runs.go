package grimoire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"
)

// RunOption adjusts a run request.
type RunOption func(*runRequest)

type runRequest struct {
	Inputs     map[string]any `json:"inputs"`
	Entry      string         `json:"entry,omitempty"`
	RunID      string         `json:"runId,omitempty"`
	InputOrder []string       `json:"inputOrder,omitempty"`
	Cache      *bool          `json:"cache,omitempty"`
	AllowExtra bool           `json:"allowExtraInputs,omitempty"`
}

// WithRunID chooses the run's id (8-64 letters, digits, '-' or '_',
// unique), so that the caller knows it before the server answers.
func WithRunID(id string) RunOption { return func(r *runRequest) { r.RunID = id } }

// WithEntry starts the run at the named entry (a Trigger In or Input).
func WithEntry(entry string) RunOption { return func(r *runRequest) { r.Entry = entry } }

// WithInputOrder gives the order of the input names (a Go map has none;
// Magick picks its entry Input from the first).
func WithInputOrder(names ...string) RunOption {
	return func(r *runRequest) { r.InputOrder = names }
}

// WithoutCache runs every node, even those whose result the server's
// node-output cache holds.
func WithoutCache() RunOption {
	return func(r *runRequest) { off := false; r.Cache = &off }
}

// WithExtraInputs accepts inputs that no Input node of the spell reads
// (refused by default with invalid_inputs: usually a typo).
func WithExtraInputs() RunOption { return func(r *runRequest) { r.AllowExtra = true } }

// RunResult is a completed run.
type RunResult struct {
	RunID   string
	Outputs map[string]any
	// Nodes is every node activation's result in execution order; set by
	// streams (Stream, Follow) and Replay, empty for Run.
	Nodes []NodeResult
}

func (c *Client) runBody(inputs map[string]any, opts []RunOption) *runRequest {
	r := &runRequest{Inputs: inputs}
	if r.Inputs == nil {
		r.Inputs = map[string]any{}
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// runAnswer is what POST /v1/spells/{id}/runs answers in sync and async
// mode, on success and for a run that did not complete.
type runAnswer struct {
	RunID   string         `json:"runId"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	NodeID  string         `json:"nodeId"`
	Message string         `json:"message"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c *Client) postRun(ctx context.Context, spellID, mode string, body *runRequest, accept string) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("grimoire: run spell %q: encode inputs: %w", spellID, err)
	}
	target := c.endpoint(url.Values{"mode": {mode}}, "v1", "spells", spellID, "runs")
	req, err := c.newRequest(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("grimoire: run spell %q: %w", spellID, err)
	}
	return resp, nil
}

// Run runs spell spellID and waits for its outputs (mode=sync). A run that
// failed or was cancelled returns a *RunError, and so does one that waits
// for a person (errors.Is ErrRunWaiting: Answer it, then Follow it). When the server stops
// waiting before the run ends (its sync timeout), Run follows the run's
// events until it does.
func (c *Client) Run(ctx context.Context, spellID string, inputs map[string]any, opts ...RunOption) (*RunResult, error) {
	resp, err := c.postRun(ctx, spellID, "sync", c.runBody(inputs, opts), "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("grimoire: run spell %q: read answer: %w", spellID, err)
	}
	var ans runAnswer
	decodeErr := json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusOK && decodeErr == nil:
		if ans.Outputs == nil {
			ans.Outputs = map[string]any{}
		}
		return &RunResult{RunID: ans.RunID, Outputs: ans.Outputs}, nil
	case resp.StatusCode == http.StatusAccepted && decodeErr == nil && ans.Status == StatusWaiting:
		return nil, &RunError{RunID: ans.RunID, Status: StatusWaiting, Message: "answer it with Client.Answer, then Follow it"}
	case resp.StatusCode == http.StatusAccepted && decodeErr == nil && ans.RunID != "":
		s, err := c.Follow(ctx, ans.RunID, 0)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.Wait()
	case decodeErr == nil && ans.RunID != "" && (ans.Status == StatusFailed || ans.Status == StatusCancelled):
		re := &RunError{RunID: ans.RunID, Status: ans.Status, NodeID: ans.NodeID}
		if ans.Error != nil {
			re.Message = ans.Error.Message
		}
		return nil, re
	case resp.StatusCode >= 400:
		return nil, apiErrorFrom(resp, body)
	case decodeErr != nil:
		return nil, fmt.Errorf("grimoire: run spell %q: decode answer: %w", spellID, decodeErr)
	}
	return nil, fmt.Errorf("grimoire: run spell %q: unexpected answer %d %s", spellID, resp.StatusCode, bytes.TrimSpace(body))
}

// RunAsync starts spell spellID and returns the run's id at once
// (mode=async); follow it with GetRun, Events or Follow.
func (c *Client) RunAsync(ctx context.Context, spellID string, inputs map[string]any, opts ...RunOption) (string, error) {
	resp, err := c.postRun(ctx, spellID, "async", c.runBody(inputs, opts), "application/json")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 400 {
		return "", apiErrorFrom(resp, body)
	}
	var ans runAnswer
	_ = json.Unmarshal(body, &ans)
	if ans.RunID == "" {
		if loc := resp.Header.Get("Location"); loc != "" {
			ans.RunID = path.Base(loc)
		}
	}
	if ans.RunID == "" {
		return "", fmt.Errorf("grimoire: run spell %q async: answer %d names no run (no runId, no Location)", spellID, resp.StatusCode)
	}
	return ans.RunID, nil
}

// Stream runs spell spellID and returns its events as they happen
// (mode=stream, Server-Sent Events). A dropped connection is resumed from
// the last event received. Close the stream when done with it.
func (c *Client) Stream(ctx context.Context, spellID string, inputs map[string]any, opts ...RunOption) (*EventStream, error) {
	resp, err := c.postRun(ctx, spellID, "stream", c.runBody(inputs, opts), "text/event-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, apiErrorFrom(resp, body)
	}
	s := c.newEventStream(ctx, resp.Header.Get("Grimoire-Run-Id"), 0)
	if err := s.attach(resp); err != nil {
		return nil, fmt.Errorf("grimoire: stream spell %q: %w", spellID, err)
	}
	return s, nil
}

// Follow returns a run's events after seq afterSeq (0: from the start),
// first those already recorded, then live ones until the run ends.
func (c *Client) Follow(ctx context.Context, runID string, afterSeq uint64) (*EventStream, error) {
	s := c.newEventStream(ctx, runID, afterSeq)
	if afterSeq > 0 {
		// The server keeps a stream open (with keep-alives) when asked for
		// what comes after a finished run's last event: answer from the
		// run's status instead.
		info, err := c.GetRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		if info.Status != StatusRunning && info.LastSeq <= afterSeq {
			evs, err := c.Events(ctx, runID, info.LastSeq-1)
			if err != nil {
				return nil, err
			}
			for _, e := range evs {
				if e.Terminal() {
					s.terminal = &e
				}
			}
			s.done = true
			return s, nil
		}
	}
	// Connect now so that an unknown run or a bad token is reported here.
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

// RunInfo is a run's status, timings and outputs (GET /v1/runs/{id}).
type RunInfo struct {
	RunID      string         `json:"runId"`
	SpellID    string         `json:"spellId"`
	SpellHash  string         `json:"spellHash"`
	User       string         `json:"user,omitempty"`
	Status     string         `json:"status"`
	Inputs     map[string]any `json:"inputs,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Error      string         `json:"error,omitempty"`
	NodeID     string         `json:"nodeId,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Started    time.Time      `json:"started"`
	Finished   *time.Time     `json:"finished,omitempty"`
	DurationMs *float64       `json:"durationMs,omitempty"`
	Usage      *Usage         `json:"usage,omitempty"`
	LastSeq    uint64         `json:"lastSeq"`
	Nodes      []NodeStatus   `json:"nodes"`
}

// NodeStatus is one node activation in a RunInfo.
type NodeStatus struct {
	NodeID     string   `json:"nodeId"`
	NodeType   string   `json:"nodeType,omitempty"`
	Path       []string `json:"path,omitempty"`
	Activation int      `json:"activation"`
	Status     string   `json:"status"`
	DurationMs *float64 `json:"durationMs,omitempty"`
	Cached     bool     `json:"cached,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// GetRun returns a run's status.
func (c *Client) GetRun(ctx context.Context, runID string) (*RunInfo, error) {
	var info RunInfo
	if _, err := c.doJSON(ctx, http.MethodGet, c.endpoint(nil, "v1", "runs", runID), nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Answered is what Answer recorded.
type Answered struct {
	RunID      string   `json:"runId"`
	NodeID     string   `json:"nodeId"`
	NodeType   string   `json:"nodeType,omitempty"`
	Activation int      `json:"activation"`
	Path       []string `json:"path,omitempty"`
	// Seq is the Seq of the node:answered event.
	Seq uint64 `json:"seq"`
	// Resumed: the run goes on (follow it to see it end).
	Resumed bool `json:"resumed"`
}

// Answer answers the question node nodeID of a run waits on (its
// node:waiting event) with value, which must match the question's schema:
// a value that does not is an *APIError matching ErrInvalidAnswer, whose
// message says where it is wrong; a user the question does not name gets ErrForbidden; a
// question answered already, ErrConflict.
func (c *Client) Answer(ctx context.Context, runID, nodeID string, value any) (*Answered, error) {
	var out Answered
	body := map[string]any{"nodeId": nodeID, "value": value}
	if _, err := c.doJSON(ctx, http.MethodPost, c.endpoint(nil, "v1", "runs", runID, "answers"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cancel asks the server to stop a run in progress. A run that already
// ended answers ErrConflict.
func (c *Client) Cancel(ctx context.Context, runID string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, c.endpoint(nil, "v1", "runs", runID), nil, nil)
	return err
}

// Events returns the run's recorded events after seq afterSeq (NDJSON),
// as far as the run has got.
func (c *Client) Events(ctx context.Context, runID string, afterSeq uint64) ([]Event, error) {
	q := url.Values{}
	if afterSeq > 0 {
		q.Set("after", strconv.FormatUint(afterSeq, 10))
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint(q, "v1", "runs", runID, "events"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return decodeNDJSON(resp.Body)
}

// decodeNDJSON reads one event per line; blank lines are skipped.
func decodeNDJSON(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var out []Event
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		e, err := decodeEvent(b)
		if err != nil {
			return out, fmt.Errorf("grimoire: events line %d: %w", line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("grimoire: read events: %w", err)
	}
	return out, nil
}

// Replay reads a run's whole recorded history and folds it into per-node
// results (see Replay).
func (c *Client) Replay(ctx context.Context, runID string) (*RunReplay, error) {
	evs, err := c.Events(ctx, runID, 0)
	if err != nil {
		return nil, err
	}
	return Replay(evs)
}

var errNoRunID = errors.New("the server named no run (no Grimoire-Run-Id header)")
