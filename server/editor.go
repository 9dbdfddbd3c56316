package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/spells"
)

// spellManager is one editor connection's state: the spells it loaded
// (compiled, ready to run) and the runs it follows. It lives exactly as long
// as its socket; runs themselves are owned by the executor and outlive it.
type spellManager struct {
	conn socket.Conn
	// playtest names this connection's spell state for runs that ask for
	// state "session" (the editor's playtest): random, so that no other
	// connection can name it.
	playtest string

	mu     sync.Mutex
	loaded map[string]*loadedSpell
	subs   map[string]*subscription // by run id
}

type loadedSpell struct {
	program *graph.Program
	version spells.Version
}

func (s *Server) registerSocketHandlers() {
	s.sockets.OnConnect(func(ctx context.Context, c socket.Conn) {
		c.Join("user:" + c.Identity().User)
		s.mu.Lock()
		s.editors[c.ID()] = &spellManager{conn: c, playtest: newPlaytestID(), loaded: map[string]*loadedSpell{}, subs: map[string]*subscription{}}
		s.mu.Unlock()
		s.metrics.sockets.Inc()
	})
	s.sockets.OnDisconnect(func(c socket.Conn, reason string) {
		s.mu.Lock()
		m := s.editors[c.ID()]
		delete(s.editors, c.ID())
		s.mu.Unlock()
		if m == nil {
			return
		}
		s.metrics.sockets.Dec()
		m.mu.Lock()
		subs := m.subs
		m.subs, m.loaded = nil, nil
		m.mu.Unlock()
		for _, sub := range subs {
			sub.cancel()
		}
	})
	socket.Handle(s.sockets, "spell:load", s.onSpellLoad)
	socket.Handle(s.sockets, "spell:unload", s.onSpellUnload)
	socket.Handle(s.sockets, "spell:run", s.onSpellRun)
	socket.Handle(s.sockets, "run:cancel", s.onRunCancel)
	socket.Handle(s.sockets, "run:answer", s.onRunAnswer)
	socket.Handle(s.sockets, "run:subscribe", s.onRunSubscribe)
	socket.Handle(s.sockets, "run:unsubscribe", s.onRunUnsubscribe)
}

func (s *Server) manager(c socket.Conn) (*spellManager, error) {
	s.mu.Lock()
	m := s.editors[c.ID()]
	s.mu.Unlock()
	if m == nil {
		return nil, &socket.Error{Code: codeBadRequest, Message: "connection is closing"}
	}
	return m, nil
}

type spellLoadRequest struct {
	SpellID string          `json:"spellId"`
	Spell   json.RawMessage `json:"spell"`
}

type spellLoadAck struct {
	OK          bool                  `json:"ok"`
	SpellID     string                `json:"spellId"`
	Name        string                `json:"name,omitempty"`
	Version     int                   `json:"version"`
	Hash        string                `json:"hash"`
	Inputs      []graph.SignaturePort `json:"inputs"`
	Outputs     []graph.SignaturePort `json:"outputs"`
	TriggerIns  []graph.SignaturePort `json:"triggerIns"`
	TriggerOuts []graph.SignaturePort `json:"triggerOuts"`
}

// mayUse reports whether ident may load and run a spell of owner, shared
// as sharing says: its owner, an admin, anyone for a spell nobody owns
// (the demo), and the users it is shared with (spells.Version.ReadableBy).
func mayUse(ident auth.Identity, owner string, sharing events.Sharing) bool {
	v := spells.Version{Owner: owner, Sharing: sharing}
	return owner == "" || (ident.User != "" && v.ReadableBy(ident.User)) || ident.HasRole("admin")
}

// mayModify reports whether ident may save over or delete a spell owned by
// owner: its owner or an admin. A spell nobody owns (the demo) is the
// operator's: users run it, only admins change it.
func mayModify(ident auth.Identity, owner string) bool {
	return (owner != "" && owner == ident.User) || ident.HasRole("admin")
}

// libraryUser is the user the spell library checks ownership for: an
// admin acts as the operator ("").
func libraryUser(ident auth.Identity) string {
	if ident.HasRole("admin") {
		return ""
	}
	return ident.User
}

func ownerName(owner string) string {
	if owner == "" {
		return "the operator (only admins change it)"
	}
	return "another user"
}

// mayRead reports whether ident may read a spell of owner, shared as
// sharing says: whoever may use it, and analysts.
func mayRead(ident auth.Identity, owner string, sharing events.Sharing) bool {
	return mayUse(ident, owner, sharing) || ident.HasRole("analyst")
}

func (s *Server) onSpellLoad(ctx context.Context, c socket.Conn, req spellLoadRequest) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	ident := c.Identity()
	var (
		spell   *graph.Spell
		version spells.Version
	)
	switch {
	case len(req.Spell) > 0:
		spell, version, err = s.saveSpellDocument(ctx, ident, req.SpellID, req.Spell)
	case req.SpellID != "":
		spell, version, err = s.opts.Library.Get(ctx, req.SpellID)
		if err == nil && !mayUse(ident, version.Owner, version.Sharing) {
			err = forbidden(fmt.Sprintf("spell %q belongs to another user", req.SpellID))
		}
	default:
		err = badRequest("spell:load needs spellId or spell (a spell document)")
	}
	if err != nil {
		return nil, s.socketError("spell:load", err)
	}
	prog, err := s.compileLibrarySpell(spell)
	if err != nil {
		return nil, s.socketError("spell:load", err)
	}
	m.mu.Lock()
	if _, again := m.loaded[spell.ID]; !again && len(m.loaded) >= s.opts.Limits.MaxLoadedSpells {
		m.mu.Unlock()
		return nil, &socket.Error{Code: codeLimitExceeded, Message: fmt.Sprintf("%d spells are loaded on this connection, the limit: unload one first", len(m.loaded))}
	}
	m.loaded[spell.ID] = &loadedSpell{program: prog, version: version}
	m.mu.Unlock()
	c.Join("spell:" + ident.User + ":" + spell.ID)
	sig := spell.Signature(s.opts.Runner.Catalog)
	return spellLoadAck{OK: true, SpellID: spell.ID, Name: spell.Name, Version: version.Version, Hash: version.Hash,
		Inputs: nonNil(sig.Inputs), Outputs: nonNil(sig.Outputs), TriggerIns: nonNil(sig.TriggerIns), TriggerOuts: nonNil(sig.TriggerOuts)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// saveSpellDocument parses a spell in either format, checks it, and saves
// it as the caller's.
func (s *Server) saveSpellDocument(ctx context.Context, ident auth.Identity, id string, doc []byte) (*graph.Spell, spells.Version, error) {
	spell, _, err := graph.ParseSpell(doc)
	if err != nil {
		return nil, spells.Version{}, err
	}
	if id != "" {
		if spell.ID != "" && spell.ID != id {
			return nil, spells.Version{}, badRequest(fmt.Sprintf("the document's id %q differs from %q", spell.ID, id))
		}
		spell.ID = id
	}
	if spell.ID == "" {
		return nil, spells.Version{}, badRequest("the spell has no id: set its \"id\" field")
	}
	if !validSpellID(spell.ID) {
		return nil, spells.Version{}, badRequest(fmt.Sprintf("spell id %q: use 1-128 letters, digits, '-', '_', '.' or '@'", spell.ID))
	}
	if err := graph.Validate(spell, s.opts.Runner.Catalog); err != nil {
		return nil, spells.Version{}, err
	}
	// An admin edits whatever spell without taking it over.
	v, err := s.opts.Library.Save(ctx, spell, libraryUser(ident))
	if err != nil {
		return nil, spells.Version{}, err
	}
	return spell, v, nil
}

var spellIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,128}$`)

func validSpellID(id string) bool { return spellIDPattern.MatchString(id) }

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

type spellRef struct {
	SpellID string `json:"spellId"`
}

func (s *Server) onSpellUnload(ctx context.Context, c socket.Conn, req spellRef) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	_, ok := m.loaded[req.SpellID]
	delete(m.loaded, req.SpellID)
	m.mu.Unlock()
	if !ok {
		return nil, &socket.Error{Code: codeNotFound, Message: fmt.Sprintf("spell %q is not loaded on this connection", req.SpellID)}
	}
	c.Leave("spell:" + c.Identity().User + ":" + req.SpellID)
	return map[string]bool{"ok": true}, nil
}

type spellRunRequest struct {
	SpellID    string         `json:"spellId"`
	Inputs     map[string]any `json:"inputs"`
	InputOrder []string       `json:"inputOrder"`
	Entry      string         `json:"entry"`
	RunID      string         `json:"runId"`
	// Cache false runs every node, even those the node-output cache holds.
	Cache *bool `json:"cache"`
	// State picks the spell state the run reads and writes: "spell" (or
	// empty) the spell's state for the user, shared by all their runs;
	// "session" this connection's own (a playtest), which starts from the
	// spell's gameState and is shared only by this connection's runs.
	State string `json:"state"`
	// AllowExtraInputs accepts inputs that no Input node reads; without it
	// such an input is refused with invalid_inputs.
	AllowExtraInputs bool `json:"allowExtraInputs"`
}

func newPlaytestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

type runAck struct {
	OK    bool   `json:"ok"`
	RunID string `json:"runId"`
}

func (s *Server) onSpellRun(ctx context.Context, c socket.Conn, req spellRunRequest) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	if req.RunID != "" && !runIDPattern.MatchString(req.RunID) {
		return nil, &socket.Error{Code: codeBadRequest, Message: "runId: use 8-64 letters, digits, '-' or '_'"}
	}
	stateSession := ""
	switch req.State {
	case "", "spell":
	case "session":
		stateSession = m.playtest
	default:
		return nil, &socket.Error{Code: codeBadRequest, Message: fmt.Sprintf("state: %q is not a state scope; use \"spell\" (the default) or \"session\"", req.State)}
	}
	m.mu.Lock()
	ls := m.loaded[req.SpellID]
	m.mu.Unlock()
	if ls == nil {
		return nil, &socket.Error{Code: codeNotFound, Message: fmt.Sprintf("spell %q is not loaded on this connection: spell:load it first", req.SpellID)}
	}
	run, err := s.startRun(ctx, c.Identity().User, runs.RunSpec{
		RunID: req.RunID, Program: ls.program, Inputs: req.Inputs, InputOrder: req.InputOrder,
		Entry: req.Entry, Source: "socket", CorrelationID: c.ID(), NoCache: noCache(req.Cache), StateSession: stateSession,
		AllowExtraInputs: req.AllowExtraInputs,
	})
	if err != nil {
		return nil, s.socketError("spell:run", err)
	}
	if err := s.follow(ctx, m, run.ID(), 0); err != nil {
		return nil, s.socketError("spell:run", err)
	}
	return runAck{OK: true, RunID: run.ID()}, nil
}

// follow subscribes an editor to a run's events from after seq afterSeq.
func (s *Server) follow(ctx context.Context, m *spellManager, runID string, afterSeq uint64) error {
	m.mu.Lock()
	if old := m.subs[runID]; old != nil {
		m.mu.Unlock()
		old.cancel()
		m.mu.Lock()
	}
	m.mu.Unlock()
	conn := m.conn
	sub, err := s.feeds.subscribe(ctx, runID, afterSeq, func(msg *runMessage) error {
		e, err := msg.socketEvent()
		if err != nil {
			return err
		}
		return conn.Send(e)
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.subs == nil { // the socket closed meanwhile
		m.mu.Unlock()
		sub.cancel()
		return nil
	}
	m.subs[runID] = sub
	m.mu.Unlock()
	conn.Join("run:" + runID)
	go func() {
		<-sub.done
		m.mu.Lock()
		current := m.subs[runID]
		if current == sub {
			delete(m.subs, runID)
		}
		m.mu.Unlock()
		// A newer subscription to the same run (run:subscribe again) keeps
		// the room.
		if current == nil || current == sub {
			conn.Leave("run:" + runID)
		}
	}()
	return nil
}

type runRef struct {
	RunID    string `json:"runId"`
	AfterSeq uint64 `json:"afterSeq"`
}

func (s *Server) onRunCancel(ctx context.Context, c socket.Conn, req runRef) (any, error) {
	if err := s.cancelRun(ctx, c.Identity(), req.RunID); err != nil {
		return nil, s.socketError("run:cancel", err)
	}
	return map[string]bool{"ok": true}, nil
}

func (s *Server) onRunSubscribe(ctx context.Context, c socket.Conn, req runRef) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	if _, err := s.runOwner(ctx, c.Identity(), req.RunID); err != nil {
		return nil, s.socketError("run:subscribe", err)
	}
	if err := s.follow(ctx, m, req.RunID, req.AfterSeq); err != nil {
		return nil, s.socketError("run:subscribe", err)
	}
	return runAck{OK: true, RunID: req.RunID}, nil
}

func (s *Server) onRunUnsubscribe(ctx context.Context, c socket.Conn, req runRef) (any, error) {
	m, err := s.manager(c)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	sub := m.subs[req.RunID]
	m.mu.Unlock()
	if sub == nil {
		return nil, &socket.Error{Code: codeNotFound, Message: fmt.Sprintf("not subscribed to run %q", req.RunID)}
	}
	sub.cancel()
	return map[string]bool{"ok": true}, nil
}
