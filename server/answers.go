package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
)

// answerRequest is the body of POST /v1/runs/{id}/answers and, with
// runId, of the socket's run:answer.
type answerRequest struct {
	RunID  string          `json:"runId,omitempty"`
	NodeID string          `json:"nodeId"`
	Value  json.RawMessage `json:"value"`
}

// maxAnswerBytes bounds an answer's body.
const maxAnswerBytes = 1 << 20

// answer records an answer to the question a run's node waits on and
// resumes the run. Users the question names may answer even if the run is
// not theirs to read; "*" admits whoever may read the run.
func (s *Server) answer(ctx context.Context, ident auth.Identity, runID string, req answerRequest) (*runs.Answered, error) {
	owner, err := s.runOwner(ctx, ident, runID)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusForbidden {
		err = nil // the question's answeredBy decides
	}
	if err != nil {
		return nil, err
	}
	if req.NodeID == "" {
		return nil, badRequest(`"nodeId" is required: the id of the node that waits (see node:waiting)`)
	}
	if len(req.Value) == 0 {
		return nil, badRequest(`"value" is required: the answer, as JSON matching the question's schema`)
	}
	var value any
	if err := json.Unmarshal(req.Value, &value); err != nil {
		return nil, badRequest(`"value": ` + err.Error())
	}
	return s.opts.Executor.Answer(ctx, runs.Answer{
		RunID: runID, NodeID: req.NodeID, Value: value, User: ident.User,
		MayReadRun: mayReadRun(ident, owner),
	})
}

func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	var req answerRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnswerBytes)).Decode(&req); err != nil {
		s.writeError(w, r, badRequest(`body: want {"nodeId": NODE_ID, "value": ANSWER}: `+err.Error()))
		return
	}
	a, err := s.answer(r.Context(), identityOf(r), r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, a)
}

// onRunAnswer is the socket's run:answer {runId, nodeId, value}; the ack
// is {ok, runId, nodeId, activation, seq, resumed}.
func (s *Server) onRunAnswer(ctx context.Context, c socket.Conn, req answerRequest) (any, error) {
	if req.RunID == "" {
		return nil, s.socketError("run:answer", badRequest(`"runId" is required`))
	}
	a, err := s.answer(ctx, c.Identity(), req.RunID, req)
	if err != nil {
		return nil, s.socketError("run:answer", err)
	}
	return struct {
		OK bool `json:"ok"`
		*runs.Answered
	}{true, a}, nil
}
