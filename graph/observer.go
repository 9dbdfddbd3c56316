package graph

import "time"

// NodeEventKind is the lifecycle step a NodeEvent reports.
type NodeEventKind uint8

const (
	NodeStarted   NodeEventKind = iota + 1 // Inputs, Trigger
	NodeChunk                              // Chunk: streamed partial output
	NodeCompleted                          // Outputs, Fired, Duration, Usage
	NodeFailed                             // Err, Duration
	NodeSkipped                            // Reason: the node never ran in this run
	NodeReplayed                           // Outputs, Fired: taken from a recorded run or cache, not executed
	NodeWaiting                            // Question: the activation waits for an answer from outside the run (see Waiting)
)

func (k NodeEventKind) String() string {
	switch k {
	case NodeStarted:
		return "started"
	case NodeChunk:
		return "chunk"
	case NodeCompleted:
		return "completed"
	case NodeFailed:
		return "failed"
	case NodeSkipped:
		return "skipped"
	case NodeReplayed:
		return "replayed"
	case NodeWaiting:
		return "waiting"
	}
	return "unknown"
}

// NodeEvent is one step of one node activation.
//
// For each activation the observer sees Started, then zero or more Chunk,
// then exactly one of Completed, Failed or Waiting; or a single Replayed. Skipped is
// reported once per node that never ran, after the run's last activation.
type NodeEvent struct {
	Kind  NodeEventKind
	RunID string
	// Path is the chain of Spell nodes (by node id) from the top-level spell
	// to the sub-spell this node belongs to; empty for top-level nodes.
	Path     []string
	SpellID  string
	NodeID   string
	NodeType string
	// Activation counts this node's activations in the run, from 1.
	Activation int
	// Trigger is the trigger input that fired this activation; empty when
	// the node was pulled for its data or started the run.
	Trigger  string
	Inputs   Inputs
	Chunk    string
	Outputs  Outputs
	Fired    []string
	Usage    *Usage
	Duration time.Duration
	Err      string
	Reason   string
	// Question is what a Waiting activation waits for.
	Question *Question
	// Source tells where a Replayed result came from: "resume", "cache", "replay".
	Source string
	// CacheKey is the activation's cache key (see Cache) on Completed and
	// Replayed events, when the run has a Cache and the type is
	// deterministic; a cache fills itself from Completed events' keys.
	CacheKey string
	Time     time.Time
}

// Observer watches runs. Calls for one run are serialized (never
// concurrent) and in order; an observer must not block for long, since the
// run waits for it.
//
// The inputs and outputs an event carries belong to the run from then on:
// observers may keep them and read them later (the event recorder encodes
// them on its own goroutine), so neither the runner nor a node's worker may
// modify a value once it has been reported.
type Observer interface {
	ObserveNode(NodeEvent)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(NodeEvent)

func (f ObserverFunc) ObserveNode(e NodeEvent) { f(e) }

// Recorded supplies results of activations that already happened (a run
// resumed after a crash, a fork, a verified replay). The runner uses a
// recorded result instead of executing the node, and reports it as
// NodeReplayed with the given source.
type Recorded interface {
	Recorded(path []string, nodeID string, activation int) (res Result, source string, ok bool)
}

// Recomputed is implemented by a Recorded that names nodes which must run
// again (a fork's node and everything downstream of it): the runner then
// executes them and never serves them from the Cache, so that forking from
// a model node calls the model.
type Recomputed interface {
	Recomputes(path []string, nodeID string) bool
}

// Cache supplies outputs of earlier activations with the same cache key:
// the node type, its configuration, its trigger and the keys of every
// producer of its inputs. Only deterministic node types, and model nodes
// that opt in (NodeType.CachesNode), are looked up.
type Cache interface {
	Get(key string) (Result, bool)
}
