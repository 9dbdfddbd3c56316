package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/protocol"
)

// runOwner returns the user a run belongs to, after checking that ident may
// read it (its owner, an analyst or an admin).
func (s *Server) runOwner(ctx context.Context, ident auth.Identity, runID string) (string, error) {
	evs, err := s.opts.Store.ReadStream(ctx, events.RunStream(runID), events.Start, events.Forwards, 1)
	if errors.Is(err, events.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
		return "", notFound(fmt.Sprintf("run %q not found", runID))
	}
	if err != nil {
		return "", err
	}
	payload, err := events.Decode(evs[0])
	if err != nil {
		return "", err
	}
	req, ok := payload.(events.RunRequested)
	if !ok {
		return "", fmt.Errorf("run %q: its stream starts with %s", runID, evs[0].Type)
	}
	if !mayReadRun(ident, req.User) {
		return "", forbidden(fmt.Sprintf("run %q belongs to another user", runID))
	}
	return req.User, nil
}

// A run belongs to the user who started it. A run with no user (recorded
// by the CLI on the data directory) is the operator's: analysts read it and
// admins control it, other users see it as another's. Unlike a spell with
// no owner (the demo), it is not everyone's.
func mayReadRun(ident auth.Identity, owner string) bool {
	return mayControlRun(ident, owner) || ident.HasRole("analyst")
}

func mayControlRun(ident auth.Identity, owner string) bool {
	return (owner != "" && owner == ident.User) || ident.HasRole("admin")
}

// cancelRun stops a run in progress in this process or, with run leases
// (several processes), in the process that owns it.
func (s *Server) cancelRun(ctx context.Context, ident auth.Identity, runID string) error {
	owner, err := s.runOwner(ctx, ident, runID)
	if err != nil {
		return err
	}
	if !mayControlRun(ident, owner) {
		return forbidden(fmt.Sprintf("run %q belongs to another user", runID))
	}
	cancelled, err := s.opts.Executor.CancelAnywhere(ctx, runID, "cancelled by "+ident.User)
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: err.Error()}
	}
	if !cancelled {
		return &apiError{status: 409, code: codeConflict, msg: fmt.Sprintf("run %q is not in progress", runID)}
	}
	return nil
}

// runView is what GET /v1/runs/{id} answers.
type runView struct {
	RunID      string         `json:"runId"`
	SpellID    string         `json:"spellId"`
	SpellHash  string         `json:"spellHash"`
	User       string         `json:"user,omitempty"`
	Status     string         `json:"status"`
	Inputs     any            `json:"inputs,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Error      string         `json:"error,omitempty"`
	NodeID     string         `json:"nodeId,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Started    time.Time      `json:"started"`
	Finished   *time.Time     `json:"finished,omitempty"`
	DurationMs *float64       `json:"durationMs,omitempty"`
	Usage      *events.Usage  `json:"usage,omitempty"`
	LastSeq    uint64         `json:"lastSeq"`
	Nodes      []nodeView     `json:"nodes"`
}

type nodeView struct {
	NodeID     string   `json:"nodeId"`
	NodeType   string   `json:"nodeType,omitempty"`
	Path       []string `json:"path,omitempty"`
	Activation int      `json:"activation"`
	Status     string   `json:"status"`
	DurationMs *float64 `json:"durationMs,omitempty"`
	Cached     bool     `json:"cached,omitempty"`
	Error      string   `json:"error,omitempty"`
	// Question is what a waiting node asks (status "waiting").
	Question *question `json:"question,omitempty"`
}

type question struct {
	Prompt     string         `json:"prompt"`
	Schema     map[string]any `json:"schema,omitempty"`
	AnsweredBy []string       `json:"answeredBy"`
	Deadline   *time.Time     `json:"deadline,omitempty"`
	OnDeadline string         `json:"onDeadline,omitempty"`
}

// foldRun builds a run's view from its stream.
func foldRun(stream []events.RecordedEvent) (runView, error) {
	var v runView
	index := map[string]int{}
	for _, e := range stream {
		m, ok, err := protocol.FromEvent(e)
		if err != nil {
			return v, err
		}
		if !ok {
			continue
		}
		v.LastSeq = m.Seq
		key := fmt.Sprint(m.Path, m.NodeID, m.Activation)
		node := func(status string) *nodeView {
			i, seen := index[key]
			if !seen {
				i = len(v.Nodes)
				index[key] = i
				v.Nodes = append(v.Nodes, nodeView{NodeID: m.NodeID, NodeType: m.NodeType, Path: m.Path, Activation: m.Activation})
			}
			v.Nodes[i].Status = status
			return &v.Nodes[i]
		}
		switch m.Type {
		case protocol.RunStart:
			v.RunID, v.SpellID, v.SpellHash, v.User, v.Inputs, v.Started, v.Status = m.RunID, m.SpellID, m.SpellHash, m.User, m.Inputs, m.Time, "running"
		case protocol.NodeStart:
			node("running")
		case protocol.NodeEnd:
			n := node("completed")
			n.DurationMs, n.Cached = m.DurationMs, m.Cached != nil && *m.Cached
		case protocol.NodeError:
			n := node("failed")
			n.DurationMs, n.Error = m.DurationMs, m.Error
		case protocol.NodeSkip:
			node("skipped")
		case protocol.NodeWaiting:
			n := node("waiting")
			n.Question = &question{Prompt: m.Prompt, Schema: m.Schema, AnsweredBy: m.AnsweredBy, Deadline: m.Deadline, OnDeadline: m.OnDeadline}
		case protocol.NodeAnswered:
			node("answered")
		case protocol.RunWaiting:
			v.Status = "waiting"
		case protocol.RunResumed:
			if v.Status == "waiting" {
				v.Status = "running"
			}
		case protocol.RunCompleted, protocol.RunFailed, protocol.RunCancelled:
			v.Status = map[string]string{protocol.RunCompleted: "completed", protocol.RunFailed: "failed", protocol.RunCancelled: "cancelled"}[m.Type]
			v.Outputs, v.Error, v.NodeID, v.Reason, v.Usage, v.DurationMs = m.Outputs, m.Error, m.NodeID, m.Reason, m.Usage, m.DurationMs
			t := m.Time
			v.Finished = &t
		}
	}
	if v.Nodes == nil {
		v.Nodes = []nodeView{}
	}
	return v, nil
}
