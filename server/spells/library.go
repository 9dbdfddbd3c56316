package spells

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
)

// Errors callers branch on.
var (
	ErrNotFound  = errors.New("spell not found")
	ErrConflict  = errors.New("spell was changed concurrently")
	ErrForbidden = errors.New("spell belongs to another user")
)

// OwnerSeparator joins an owner and a spell id in a sub-spell reference
// to a spell that another user shares ("alice/summarize"); spell ids
// cannot contain it.
const OwnerSeparator = "/"

// Version describes one saved version of a spell.
type Version struct {
	SpellID string    `json:"spellId"`
	Version int       `json:"version"`
	Hash    string    `json:"hash"`
	Owner   string    `json:"owner,omitempty"`
	User    string    `json:"user,omitempty"` // who saved this version
	Time    time.Time `json:"time"`
	// Sharing says who else may read and run the spell (now, for the
	// latest version; as it was at the save, in History).
	Sharing events.Sharing `json:"sharing"`
}

// ReadableBy reports whether user may read and run the spell: the
// operator ("") and its owner always, every user for a spell nobody owns
// (the operator's, like the demo), and the users its sharing allows.
func (v Version) ReadableBy(user string) bool {
	return user == "" || v.Owner == "" || v.Owner == user || v.Sharing.Allows(user)
}

// savedMeta is the metadata of a SpellSaved event: the spell's owner,
// and its sharing carried forward from the version before.
type savedMeta struct {
	Owner   string          `json:"owner"`
	Sharing *events.Sharing `json:"sharing,omitempty"`
}

// Library saves and loads spells in an event store.
//
// Every load reads the spell stream's last event, so a version saved by
// another process is seen at once; decoding that event (the JSON and the
// spell parse, most of a load's cost) is done once per event and kept.
// The spells it returns are shared between callers, who must not modify
// them.
type Library struct {
	Store events.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	decoded map[string]state // by event ID: a recorded event never changes
}

// decodedCap bounds the decoded versions kept; past it the cache starts
// over.
const decodedCap = 1024

// decode is decodeSaved through the cache.
func (l *Library) decode(e events.RecordedEvent) (state, error) {
	if e.ID != "" {
		l.mu.Lock()
		st, ok := l.decoded[e.ID]
		l.mu.Unlock()
		if ok {
			return st, nil
		}
	}
	st, err := decodeSaved(e)
	if err != nil || e.ID == "" {
		return st, err
	}
	l.mu.Lock()
	if l.decoded == nil || len(l.decoded) >= decodedCap {
		l.decoded = make(map[string]state)
	}
	l.decoded[e.ID] = st
	l.mu.Unlock()
	return st, nil
}

func (l *Library) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now().UTC()
}

// Save appends a new version of s unless its content hash equals the
// latest version's, in which case it returns that version. The first user
// to save a spell owns its id for good: another user's save is
// ErrForbidden, after a delete too (the stream is a tombstone that keeps
// its owner), and so is any user's save of a spell nobody owns (saved by
// user "", like the demo). user "" (the CLI, an admin, the executor saving
// what it runs) is allowed on any spell. A new version keeps the spell's
// sharing; a save after a delete starts unshared.
func (l *Library) Save(ctx context.Context, s *graph.Spell, user string) (Version, error) {
	if s.ID == "" {
		return Version{}, errors.New("save spell: the spell has no id")
	}
	doc, err := graph.MarshalSpell(s)
	if err != nil {
		return Version{}, fmt.Errorf("save spell %q: %w", s.ID, err)
	}
	hash := graph.Hash(s)
	stream := events.SpellStream(s.ID)
	for attempt := 0; attempt < 3; attempt++ {
		latest, rev, exists, err := l.latest(ctx, s.ID)
		if err != nil {
			return Version{}, err
		}
		expected := events.NoStream
		next := 1
		owner := user
		var sharing events.Sharing
		if exists {
			expected = events.Exact(rev)
			if user != "" && latest.version.Owner != user {
				// Another user's spell (deleted or not), or one nobody
				// owns (the demo every user runs): only the operator
				// (user "") changes it.
				return Version{}, fmt.Errorf("save spell %q: %w", s.ID, ErrForbidden)
			}
			if !latest.deleted {
				if latest.version.Hash == hash {
					return latest.version, nil
				}
				sharing = latest.version.Sharing
			}
			next = latest.version.Version + 1
			if latest.version.Owner != "" {
				owner = latest.version.Owner
			}
		}
		saved := events.SpellSaved{SpellID: s.ID, Version: next, Hash: hash, Graph: json.RawMessage(doc), User: user, Time: l.now()}
		ev, err := events.Encode(saved)
		if err != nil {
			return Version{}, err
		}
		meta := savedMeta{Owner: owner}
		if sharing.Public || len(sharing.Readers) > 0 {
			meta.Sharing = &sharing
		}
		ev.Metadata, _ = json.Marshal(meta)
		_, err = l.Store.Append(ctx, stream, expected, ev)
		if errors.Is(err, events.ErrWrongExpectedRevision) {
			continue // someone saved in between: look again
		}
		if err != nil {
			return Version{}, fmt.Errorf("save spell %q: %w", s.ID, err)
		}
		return Version{SpellID: s.ID, Version: next, Hash: hash, Owner: owner, User: user, Time: saved.Time, Sharing: sharing}, nil
	}
	return Version{}, fmt.Errorf("save spell %q: %w", s.ID, ErrConflict)
}

// Get returns the latest version of a spell.
func (l *Library) Get(ctx context.Context, id string) (*graph.Spell, Version, error) {
	latest, _, exists, err := l.latest(ctx, id)
	if err != nil {
		return nil, Version{}, err
	}
	if !exists || latest.deleted {
		return nil, Version{}, fmt.Errorf("spell %q: %w", id, ErrNotFound)
	}
	return latest.spell, latest.version, nil
}

// GetVersion returns the version of a spell with the given content hash,
// deleted or not: a run records the hash it ran, and can always be replayed.
func (l *Library) GetVersion(ctx context.Context, id, hash string) (*graph.Spell, Version, error) {
	evs, err := l.Store.ReadStream(ctx, events.SpellStream(id), events.End, events.Backwards, 0)
	if errors.Is(err, events.ErrStreamNotFound) {
		return nil, Version{}, fmt.Errorf("spell %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, Version{}, fmt.Errorf("load spell %q: %w", id, err)
	}
	for _, e := range evs {
		if e.Type != events.TypeSpellSaved {
			continue
		}
		v, err := l.decode(e)
		if err != nil {
			return nil, Version{}, err
		}
		if v.version.Hash == hash {
			return v.spell, v.version, nil
		}
	}
	return nil, Version{}, fmt.Errorf("spell %q version %s: %w", id, hash, ErrNotFound)
}

// History lists every saved version, oldest first.
func (l *Library) History(ctx context.Context, id string) ([]Version, error) {
	evs, err := l.Store.ReadStream(ctx, events.SpellStream(id), events.Start, events.Forwards, 0)
	if errors.Is(err, events.ErrStreamNotFound) {
		return nil, fmt.Errorf("spell %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load spell %q: %w", id, err)
	}
	var out []Version
	for _, e := range evs {
		if e.Type != events.TypeSpellSaved {
			continue
		}
		v, err := decodeSaved(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v.version)
	}
	return out, nil
}

// Delete marks a spell deleted. Its versions stay in the log. Only its
// owner, or user "" (the CLI, an admin), may delete it.
func (l *Library) Delete(ctx context.Context, id, user string) error {
	latest, rev, exists, err := l.latest(ctx, id)
	if err != nil {
		return err
	}
	if !exists || latest.deleted {
		return fmt.Errorf("spell %q: %w", id, ErrNotFound)
	}
	if user != "" && latest.version.Owner != user {
		return fmt.Errorf("delete spell %q: %w", id, ErrForbidden)
	}
	ev, err := events.Encode(events.SpellDeleted{SpellID: id, Version: latest.version.Version, Owner: latest.version.Owner, User: user, Time: l.now()})
	if err != nil {
		return err
	}
	if _, err := l.Store.Append(ctx, events.SpellStream(id), events.Exact(rev), ev); err != nil {
		if errors.Is(err, events.ErrWrongExpectedRevision) {
			return fmt.Errorf("delete spell %q: %w", id, ErrConflict)
		}
		return fmt.Errorf("delete spell %q: %w", id, err)
	}
	return nil
}

// Share replaces a spell's sharing. Only its owner, or user "" (an
// admin), may share it. Readers are kept sorted, once each, without the
// owner.
func (l *Library) Share(ctx context.Context, id, user string, sharing events.Sharing) (Version, error) {
	readers := make([]string, 0, len(sharing.Readers))
	for _, r := range sharing.Readers {
		r = strings.TrimSpace(r)
		if r != "" {
			readers = append(readers, r)
		}
	}
	slices.Sort(readers)
	readers = slices.Compact(readers)
	for attempt := 0; attempt < 3; attempt++ {
		latest, rev, exists, err := l.latest(ctx, id)
		if err != nil {
			return Version{}, err
		}
		if !exists || latest.deleted {
			return Version{}, fmt.Errorf("spell %q: %w", id, ErrNotFound)
		}
		if user != "" && latest.version.Owner != user {
			return Version{}, fmt.Errorf("share spell %q: %w", id, ErrForbidden)
		}
		next := events.Sharing{Public: sharing.Public, Readers: slices.DeleteFunc(slices.Clone(readers), func(r string) bool { return r == latest.version.Owner })}
		if len(next.Readers) == 0 {
			next.Readers = nil
		}
		ev, err := events.Encode(events.SpellShared{SpellID: id, Sharing: next, User: user, Time: l.now()})
		if err != nil {
			return Version{}, err
		}
		_, err = l.Store.Append(ctx, events.SpellStream(id), events.Exact(rev), ev)
		if errors.Is(err, events.ErrWrongExpectedRevision) {
			continue
		}
		if err != nil {
			return Version{}, fmt.Errorf("share spell %q: %w", id, err)
		}
		v := latest.version
		v.Sharing = next
		return v, nil
	}
	return Version{}, fmt.Errorf("share spell %q: %w", id, ErrConflict)
}

// LoadSpell makes the library a graph.SpellSource for the sub-spells and
// tools of a run of user. A plain id names one of user's own spells or
// one nobody owns (the operator's); a spell of another user is named with
// its owner ("alice/summarize") and must be shared with user, so that no
// one can plant code under an id that somebody's spell expects. A run of
// the operator ("") resolves any id.
func (l *Library) LoadSpell(ctx context.Context, user, ref string) (*graph.Spell, error) {
	owner, id, qualified := strings.Cut(ref, OwnerSeparator)
	if !qualified {
		id = ref
	}
	s, v, err := l.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case qualified && v.Owner != owner:
		return nil, fmt.Errorf("spell %q: %w (spell %q is not %s's)", ref, ErrNotFound, id, owner)
	case qualified && !v.ReadableBy(user):
		return nil, fmt.Errorf("spell %q: %w: %s has not shared it with you", ref, ErrForbidden, owner)
	case !qualified && user != "" && v.Owner != "" && v.Owner != user:
		return nil, fmt.Errorf("spell %q: %w: a sub-spell of another user's is named with its owner, as %q, and must be shared with you", ref, ErrForbidden, v.Owner+OwnerSeparator+id)
	}
	return s, nil
}

type state struct {
	spell   *graph.Spell
	version Version
	deleted bool
}

// latest reads the spell stream's last event: a save, a delete (which
// carries the version number it ended and its owner), or a change of
// sharing (then the save before it is read too).
func (l *Library) latest(ctx context.Context, id string) (state, uint64, bool, error) {
	evs, err := l.Store.ReadStream(ctx, events.SpellStream(id), events.End, events.Backwards, 1)
	if errors.Is(err, events.ErrStreamNotFound) {
		return state{}, 0, false, nil
	}
	if err != nil {
		return state{}, 0, false, fmt.Errorf("load spell %q: %w", id, err)
	}
	if len(evs) == 0 {
		return state{}, 0, false, nil
	}
	rev := evs[0].Revision
	switch evs[0].Type {
	case events.TypeSpellSaved:
		st, err := l.decode(evs[0])
		return st, rev, true, err
	case events.TypeSpellDeleted:
		var d events.SpellDeleted
		if err := json.Unmarshal(evs[0].Data, &d); err != nil {
			return state{}, 0, false, fmt.Errorf("spell %q: decode %s: %w", id, evs[0].Type, err)
		}
		owner := d.Owner
		if owner == "" {
			// A tombstone older than SpellDeleted.Owner: the last save says.
			if saved, err := l.lastSaved(ctx, id); err != nil {
				return state{}, 0, false, err
			} else if saved != nil {
				owner = saved.version.Owner
			}
		}
		return state{deleted: true, version: Version{SpellID: id, Version: d.Version, Owner: owner}}, rev, true, nil
	case events.TypeSpellShared:
		var sh events.SpellShared
		if err := json.Unmarshal(evs[0].Data, &sh); err != nil {
			return state{}, 0, false, fmt.Errorf("spell %q: decode %s: %w", id, evs[0].Type, err)
		}
		saved, err := l.lastSaved(ctx, id)
		if err != nil {
			return state{}, 0, false, err
		}
		if saved == nil {
			return state{}, 0, false, fmt.Errorf("spell %q: shared before it was saved", id)
		}
		st := *saved
		st.version.Sharing = sh.Sharing
		return st, rev, true, nil
	}
	return state{}, 0, false, fmt.Errorf("spell %q: unexpected event %s in its stream", id, evs[0].Type)
}

// lastSaved decodes the stream's last SpellSaved, nil if it has none.
func (l *Library) lastSaved(ctx context.Context, id string) (*state, error) {
	evs, err := l.Store.ReadStream(ctx, events.SpellStream(id), events.End, events.Backwards, 0)
	if err != nil {
		return nil, fmt.Errorf("load spell %q: %w", id, err)
	}
	for _, e := range evs {
		if e.Type == events.TypeSpellSaved {
			st, err := l.decode(e)
			if err != nil {
				return nil, err
			}
			return &st, nil
		}
	}
	return nil, nil
}

func decodeSaved(e events.RecordedEvent) (state, error) {
	var saved events.SpellSaved
	if err := json.Unmarshal(e.Data, &saved); err != nil {
		return state{}, fmt.Errorf("spell stream %s: decode %s: %w", e.Stream, e.Type, err)
	}
	s, _, err := graph.ParseSpell(saved.Graph)
	if err != nil {
		return state{}, fmt.Errorf("spell %q version %d: %w", saved.SpellID, saved.Version, err)
	}
	var meta savedMeta
	if len(e.Metadata) > 0 {
		_ = json.Unmarshal(e.Metadata, &meta)
	}
	v := Version{SpellID: saved.SpellID, Version: saved.Version, Hash: saved.Hash,
		Owner: meta.Owner, User: saved.User, Time: saved.Time}
	if meta.Sharing != nil {
		v.Sharing = *meta.Sharing
	}
	return state{spell: s, version: v}, nil
}
