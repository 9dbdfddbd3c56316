package grimoire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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

// LogQuery selects events of the global log (GET /v1/events, analysts).
type LogQuery struct {
	// From is the first log position (1 or 0: the beginning); Tail, when
	// more than 0, starts that many events before the head instead.
	From uint64
	Tail int
	// StreamPrefixes and Types filter the events (any of each).
	StreamPrefixes []string
	Types          []string
	// Limit stops after that many events (0: no limit).
	Limit int
	// Follow keeps the stream open for new events (Server-Sent Events)
	// until ctx ends or fn returns an error.
	Follow bool
}

// LogEvent is one event of the global log as the store recorded it.
type LogEvent struct {
	Stream        string          `json:"stream"`
	Revision      uint64          `json:"revision"`
	Position      uint64          `json:"position"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Time          time.Time       `json:"time"`
}

// Log calls fn with each event of the global log that q selects, in log
// order, and returns fn's first error, or nil at the end of the log
// (without Follow) or of the limit.
func (c *Client) Log(ctx context.Context, q LogQuery, fn func(LogEvent) error) error {
	v := url.Values{}
	switch {
	case q.Tail > 0:
		v.Set("tail", strconv.Itoa(q.Tail))
	case q.From > 0:
		v.Set("from", strconv.FormatUint(q.From, 10))
	}
	if len(q.StreamPrefixes) > 0 {
		v.Set("stream_prefix", strings.Join(q.StreamPrefixes, ","))
	}
	if len(q.Types) > 0 {
		v.Set("type", strings.Join(q.Types, ","))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	accept := "application/x-ndjson"
	if q.Follow {
		accept = "text/event-stream"
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint(v, "v1", "events"), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n := 0
	deliver := func(data []byte) error {
		var e LogEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("grimoire: global log: decode event: %w", err)
		}
		n++
		return fn(e)
	}
	if !q.Follow {
		dec := json.NewDecoder(resp.Body)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("grimoire: global log: %w", err)
			}
			if err := deliver(raw); err != nil {
				return err
			}
		}
	}
	d := newSSEDecoder(resp.Body)
	for {
		m, err := d.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("grimoire: global log: %w", err)
		}
		if err := deliver(m.Data); err != nil {
			return err
		}
		if q.Limit > 0 && n >= q.Limit {
			return nil
		}
	}
}
