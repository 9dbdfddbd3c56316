package events

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// EventData is an event to append.
type EventData struct {
	// ID identifies the event (a UUID string). Leave it empty to let the
	// store derive a deterministic one from the stream, the revision the
	// event lands at and its content (see DeterministicID); supply one
	// (for example RunEventID) to make retries with Any idempotent too.
	ID   string
	Type string
	// SchemaVersion is the version of Data's schema for Type; 0 means 1.
	SchemaVersion int
	Data          json.RawMessage
	// Metadata is optional JSON (nil for none).
	Metadata json.RawMessage
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	Stream string `json:"stream"`
	// Revision is the event's 0-based position in its stream.
	Revision uint64 `json:"revision"`
	// Position is the event's position in the global log: 1-based and
	// strictly increasing in commit order (not necessarily contiguous in
	// every store; the embedded store's positions are contiguous).
	Position      uint64          `json:"position"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	// Time is when the store committed the event.
	Time time.Time `json:"time"`
}

// Stream names.
const (
	RunStreamPrefix   = "run-"
	SpellStreamPrefix = "spell-"
	StateStreamPrefix = "state-"
)

// RunStream is the stream holding one run's whole history.
func RunStream(runID string) string { return RunStreamPrefix + runID }

// StateStream is the stream of one spell's state ("game state") for one
// owner: its StateWritten events, folded in stream order over the spell's
// initial gameState, are the state. The parts are escaped ("~" too) so
// that no two (spell, owner) pairs share a stream.
func StateStream(spellID, owner string) string {
	return StateStreamPrefix + escapeStreamPart(spellID) + "~" + escapeStreamPart(owner)
}

// SessionStateStream is the stream of one spell's state within one editor
// session (a playtest): it starts from the spell's gameState, as if no run
// had written the state, and only that session's runs see and change it.
func SessionStateStream(spellID, owner, session string) string {
	return StateStream(spellID, owner) + "~" + escapeStreamPart(session)
}

func escapeStreamPart(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "~", "%7E")
}

// SpellStream is the stream holding a spell's saved versions.
func SpellStream(spellID string) string { return SpellStreamPrefix + spellID }

// namespace is the UUID v5 namespace of Grimoire event IDs
// (uuid v5 of the URL namespace and "https://grimoire.run/events").
var namespace = [16]byte{0x5c, 0x3e, 0x0b, 0x1f, 0x6e, 0x2a, 0x5d, 0x47, 0x9a, 0x61, 0x2f, 0x7d, 0x1e, 0x84, 0x3c, 0x90}

// NewID returns a UUID v5 (RFC 9562) in Grimoire's namespace over the
// parts, separated by NUL so that ("ab","c") and ("a","bc") differ.
func NewID(parts ...string) string {
	h := sha1.New()
	h.Write(namespace[:])
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// DeterministicID is the ID a store gives an event appended without one:
// a UUID v5 of the stream, the revision it lands at, its type and the
// SHA-256 of its data. A retry of the same content at the same revision
// gets the same ID (and is idempotent); a different event racing for the
// same revision gets a different one (and a wrong-revision error).
func DeterministicID(stream string, revision uint64, ev EventData) string {
	sum := sha256.Sum256(ev.Data)
	var rev [8]byte
	binary.BigEndian.PutUint64(rev[:], revision)
	return NewID(stream, string(rev[:]), ev.Type, string(sum[:]))
}

// RunEventID is the ID of the run event with sequence number seq: a
// recorder that retries an append after a timeout writes each event once.
func RunEventID(runID string, seq uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return NewID("run", runID, string(b[:]))
}

// Event type names (RecordedEvent.Type).
const (
	TypeRunRequested    = "RunRequested"
	TypeRunResumed      = "RunResumed"
	TypeNodeStarted     = "NodeStarted"
	TypeNodeOutputChunk = "NodeOutputChunk"
	TypeNodeCompleted   = "NodeCompleted"
	TypeNodeFailed      = "NodeFailed"
	TypeNodeSkipped     = "NodeSkipped"
	TypeNodeCacheHit    = "NodeCacheHit"
	TypeRunCompleted    = "RunCompleted"
	TypeRunFailed       = "RunFailed"
	TypeRunCancelled    = "RunCancelled"
	TypeRunWaiting      = "RunWaiting"
	TypeRunAnswered     = "RunAnswered"
	TypeRunPaused       = "RunPaused"
	TypeSpellSaved      = "SpellSaved"
	TypeSpellDeleted    = "SpellDeleted"
	TypeSpellShared     = "SpellShared"
	TypeStateWritten    = "StateWritten"
)

// RunHeader is carried by every run event (embedded, so its fields sit at
// the top level of the JSON).
type RunHeader struct {
	RunID string `json:"runId"`
	// Seq numbers the run's events from 1 in stream order: a reconnecting
	// client asks for everything after the last Seq it saw.
	Seq           uint64 `json:"seq"`
	SpellID       string `json:"spellId"`
	SpellHash     string `json:"spellHash"`
	CorrelationID string `json:"correlationId,omitempty"`
	// Time is when the event happened (the recorder's clock), not when it
	// was committed (RecordedEvent.Time).
	Time time.Time `json:"time"`
}

// NodeRef names one activation of one node.
type NodeRef struct {
	NodeID   string `json:"nodeId"`
	NodeType string `json:"nodeType,omitempty"`
	// Activation counts this node's activations in the run, from 1.
	Activation int `json:"activation"`
	// Path is the chain of Spell nodes from the top-level spell to the
	// sub-spell the node belongs to; empty for top-level nodes.
	Path []string `json:"path,omitempty"`
}

// Usage is what an activation consumed from inference services (the same
// fields and JSON as graph.Usage).
type Usage struct {
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"promptTokens,omitempty"`
	CompletionTokens int    `json:"completionTokens,omitempty"`
	TotalTokens      int    `json:"totalTokens,omitempty"`
	Calls            int    `json:"calls,omitempty"`
}

// RunRequested opens a run stream.
type RunRequested struct {
	RunHeader
	Inputs map[string]any `json:"inputs,omitempty"`
	// User is the caller's JWT subject ("" for the CLI).
	User string `json:"user,omitempty"`
	// Source is where the request came from: "socket", "rest", "cli".
	Source string `json:"source,omitempty"`
	// ParentRunID is set for a re-run from history or a fork.
	ParentRunID string `json:"parentRunId,omitempty"`
}

// RunResumed says that a process took the run over after a crash or a
// restart; the events before it stand, unfinished nodes run again.
type RunResumed struct {
	RunHeader
	// AfterSeq is the last Seq found in the stream when resuming.
	AfterSeq uint64 `json:"afterSeq"`
	Reason   string `json:"reason,omitempty"`
}

// NodeStarted: an activation began.
type NodeStarted struct {
	RunHeader
	NodeRef
	Trigger string           `json:"trigger,omitempty"`
	Inputs  map[string][]any `json:"inputs,omitempty"`
}

// NodeOutputChunk carries streamed partial output (tokens, batched).
type NodeOutputChunk struct {
	RunHeader
	NodeRef
	// Index numbers the activation's chunks from 0.
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// NodeCompleted: an activation finished with outputs.
type NodeCompleted struct {
	RunHeader
	NodeRef
	Outputs  map[string]any `json:"outputs,omitempty"`
	Fired    []string       `json:"fired,omitempty"`
	Duration time.Duration  `json:"durationNs"`
	// CacheKey identifies the result in the node-output cache (node type,
	// configuration and the keys of its inputs' producers); empty for
	// types whose results are never reused.
	CacheKey string `json:"cacheKey,omitempty"`
	Usage    *Usage `json:"usage,omitempty"`
}

// NodeFailed: an activation returned an error.
type NodeFailed struct {
	RunHeader
	NodeRef
	Error    string        `json:"error"`
	Duration time.Duration `json:"durationNs"`
}

// NodeSkipped: the node never ran in this run.
type NodeSkipped struct {
	RunHeader
	NodeRef
	Reason string `json:"reason,omitempty"`
}

// NodeCacheHit: the activation's result came from a cache or an earlier
// recording instead of executing.
type NodeCacheHit struct {
	RunHeader
	NodeRef
	Outputs map[string]any `json:"outputs,omitempty"`
	Fired   []string       `json:"fired,omitempty"`
	// Source is "cache", "resume" or "replay".
	Source   string `json:"source,omitempty"`
	CacheKey string `json:"cacheKey,omitempty"`
	// FromRunID is the run whose recording supplied the result, if known.
	FromRunID string `json:"fromRunId,omitempty"`
}

// RunCompleted closes a successful run.
type RunCompleted struct {
	RunHeader
	// Outputs are the spell's outputs (its Output nodes), by name.
	Outputs  map[string]any `json:"outputs,omitempty"`
	Duration time.Duration  `json:"durationNs"`
	Usage    *Usage         `json:"usage,omitempty"`
}

// RunFailed closes a failed run.
type RunFailed struct {
	RunHeader
	Error string `json:"error"`
	// NodeID is the node whose failure ended the run, if one did.
	NodeID   string        `json:"nodeId,omitempty"`
	Path     []string      `json:"path,omitempty"`
	Duration time.Duration `json:"durationNs"`
}

// RunCancelled closes a run stopped by its caller or by shutdown.
type RunCancelled struct {
	RunHeader
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"durationNs"`
}

// RunWaiting: an activation (an Ask node) waits for an answer from
// outside the run. Its branch stopped; the activation completes when a
// RunAnswered for the same NodeRef follows.
type RunWaiting struct {
	RunHeader
	NodeRef
	Prompt string `json:"prompt,omitempty"`
	// Schema is the JSON Schema the answer must satisfy; nil accepts any.
	Schema map[string]any `json:"schema,omitempty"`
	// AnsweredBy lists the users who may answer; "*" is anyone who may
	// see the run.
	AnsweredBy []string `json:"answeredBy"`
	// Deadline, when set, is when the question stops waiting: OnDeadline
	// "timeout" answers it with TimeoutValue (RunAnswered.TimedOut),
	// "fail" fails the node and the run.
	Deadline     *time.Time `json:"deadline,omitempty"`
	OnDeadline   string     `json:"onDeadline,omitempty"`
	TimeoutValue any        `json:"timeoutValue,omitempty"`
}

// RunAnswered answers a RunWaiting (the same NodeRef): a resumed run takes
// it as the activation's result.
type RunAnswered struct {
	RunHeader
	NodeRef
	Value any `json:"value,omitempty"`
	// By is the user who answered; "" for the deadline.
	By string `json:"by,omitempty"`
	// TimedOut: nobody answered before the deadline; Value is the node's
	// timeout value and its timeout output fires.
	TimedOut bool `json:"timedOut,omitempty"`
}

// RunPaused: everything the run could do is done and the activations
// listed wait for answers. The run holds nothing while paused; an answer
// resumes it (RunResumed), on any process.
type RunPaused struct {
	RunHeader
	Waiting []NodeRef `json:"waiting"`
}

// SpellSaved records a version of a spell (stream spell-<spellId>).
type SpellSaved struct {
	SpellID string `json:"spellId"`
	// Version counts saves from 1.
	Version int    `json:"version"`
	Hash    string `json:"hash"`
	// Graph is the spell document in the native JSON format.
	Graph         json.RawMessage `json:"graph"`
	User          string          `json:"user,omitempty"`
	CorrelationID string          `json:"correlationId,omitempty"`
	Time          time.Time       `json:"time"`
}

// StateWritten records changes to a spell's state (stream StateStream):
// Ops is the list of graph.StateOp a node applied, in order. The state is
// the spell's gameState with every StateWritten's ops applied in stream
// order (graph.ApplyStateOps), which is also the merge rule for runs that
// write at the same time.
type StateWritten struct {
	SpellID string `json:"spellId"`
	Owner   string `json:"owner,omitempty"`
	// Session is set for a playtest's state (SessionStateStream).
	Session    string          `json:"session,omitempty"`
	RunID      string          `json:"runId"`
	Path       []string        `json:"path,omitempty"`
	NodeID     string          `json:"nodeId"`
	NodeType   string          `json:"nodeType,omitempty"`
	Activation int             `json:"activation,omitempty"`
	Ops        json.RawMessage `json:"ops"`
	Time       time.Time       `json:"time"`
}

// SpellDeleted records that a spell was deleted. The stream stays its
// owner's (a tombstone): nobody else may save a spell under its id again.
type SpellDeleted struct {
	SpellID string `json:"spellId"`
	Version int    `json:"version,omitempty"`
	// Owner is the deleted spell's owner; older events lack it (the last
	// SpellSaved's metadata says it then).
	Owner         string    `json:"owner,omitempty"`
	User          string    `json:"user,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	Time          time.Time `json:"time"`
}

// Sharing says who besides its owner may read and run a spell.
type Sharing struct {
	// Public lets every user read and run it.
	Public bool `json:"public,omitempty"`
	// Readers are the users it is shared with, by JWT subject.
	Readers []string `json:"readers,omitempty"`
}

// Allows reports whether sharing lets user read the spell.
func (s Sharing) Allows(user string) bool {
	if s.Public {
		return true
	}
	for _, r := range s.Readers {
		if r == user && user != "" {
			return true
		}
	}
	return false
}

// SpellShared records a spell's new sharing (the whole of it, replacing
// the one before), set by its owner or an admin.
type SpellShared struct {
	SpellID string `json:"spellId"`
	Sharing
	User          string    `json:"user,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	Time          time.Time `json:"time"`
}

// Header returns the run header of a run event, and false for other
// payloads.
func Header(payload any) (RunHeader, bool) {
	if h, ok := payload.(interface{ runHeader() RunHeader }); ok {
		return h.runHeader(), true
	}
	return RunHeader{}, false
}

func (h RunHeader) runHeader() RunHeader { return h }
