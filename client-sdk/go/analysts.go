package grimoire

import (
	"context"
	"encoding/json"
	"net/http"
)

// ForkRequest re-runs a recorded run from a node: FromNode and everything
// downstream of it run again, everything upstream is reused from the
// recording. Inputs override the run's inputs (the nodes that read them
// are recomputed too).
type ForkRequest struct {
	FromNode string         `json:"fromNode"`
	Inputs   map[string]any `json:"inputs,omitempty"`
	// NoCache takes nothing from the node-output cache.
	NoCache bool `json:"-"`
}

// Fork is the server's answer to a fork: the new run's id and what it
// recomputes.
type Fork struct {
	RunID       string   `json:"runId"`
	ParentRunID string   `json:"parentRunId"`
	FromNode    string   `json:"fromNode"`
	Recompute   []string `json:"recompute"`
	Status      string   `json:"status"`
}

// Fork starts a fork of run runID (POST /v1/runs/{id}/fork); follow the
// new run with Follow.
func (c *Client) Fork(ctx context.Context, runID string, req ForkRequest) (*Fork, error) {
	body := struct {
		ForkRequest
		Cache *bool `json:"cache,omitempty"`
	}{ForkRequest: req}
	if req.NoCache {
		off := false
		body.Cache = &off
	}
	var f Fork
	if _, err := c.doJSON(ctx, http.MethodPost, c.endpoint(nil, "v1", "runs", runID, "fork"), body, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Timeline returns run runID's timeline (GET /v1/runs/{id}/timeline): each
// node activation's status, start, duration and outputs, as the server
// writes it (docs/protocol.md).
func (c *Client) Timeline(ctx context.Context, runID string) (json.RawMessage, error) {
	var tl json.RawMessage
	if _, err := c.doJSON(ctx, http.MethodGet, c.endpoint(nil, "v1", "runs", runID, "timeline"), nil, &tl); err != nil {
		return nil, err
	}
	return tl, nil
}
