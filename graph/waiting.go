package graph

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrWaiting is wrapped by the error of a run that stopped because some of
// its nodes wait for something outside the run (a person's answer): it did
// not fail and is not finished. Every other branch ran to its end first.
var ErrWaiting = errors.New("run waits for an answer")

// Waiting is what a worker returns, as its error, when its node cannot
// complete until something outside the run happens (an Ask node waits for
// a person). The runner does not fail the run: it reports NodeWaiting with
// Question, stops that branch (its goroutine and its concurrency slots are
// released) and lets the other branches go on. The activation completes
// later, in a resumed run, from a Recorded result.
type Waiting struct {
	Question Question
}

// Question is what a waiting node asks for.
type Question struct {
	// Prompt is shown to whoever answers.
	Prompt string
	// Schema is the JSON Schema an answer must satisfy (nil: any value).
	Schema map[string]any
	// AnsweredBy lists the users who may answer; "*" is anyone who may
	// see the run.
	AnsweredBy []string
	// Deadline, when not zero, is when the question stops waiting:
	// OnDeadline "timeout" then answers it with TimeoutValue on the
	// node's timeout output, "fail" fails the node.
	Deadline     time.Time
	OnDeadline   string
	TimeoutValue any
}

func (w *Waiting) Error() string { return "waiting for an answer" }

// WaitingError is the error of a run some of whose nodes wait (it wraps
// ErrWaiting).
type WaitingError struct {
	// Nodes are the waiting activations, as "path/nodeID#activation".
	Nodes []string
}

func (e *WaitingError) Error() string {
	return fmt.Sprintf("%v: %s", ErrWaiting, strings.Join(e.Nodes, ", "))
}

func (e *WaitingError) Unwrap() error { return ErrWaiting }

// Waits is implemented by a Recorded that knows activations which are
// waiting and not answered yet (a run resumed while one of its nodes waits
// and another branch had not finished): the runner leaves such an
// activation waiting without running its worker or reporting it again.
type Waits interface {
	Waits(path []string, nodeID string, activation int) bool
}

func waitingRef(path []string, nodeID string, activation int) string {
	return fmt.Sprintf("%s%s#%d", strings.Join(append(append([]string(nil), path...), ""), "/"), nodeID, activation)
}
