package runs

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/spells"
)

// SpellLibrary is what the executor needs of the spell library
// (*spells.Library satisfies it): saving the spell a run uses, and loading
// that exact version back by content hash when the run resumes.
type SpellLibrary interface {
	Save(ctx context.Context, s *graph.Spell, user string) (spells.Version, error)
	GetVersion(ctx context.Context, id, hash string) (*graph.Spell, spells.Version, error)
}

// ensureSpellSaved makes sure the version of the spell a run uses is in
// spell-<id> before the run's first event, so that the run can always be
// resumed from the log alone. A version already there (even an older one,
// or one of a deleted spell) is not saved again.
func (e *Executor) ensureSpellSaved(ctx context.Context, prog *graph.Program, user string) error {
	key := prog.Spell.ID + "\x00" + prog.Hash
	e.spellsMu.Lock()
	known := e.saved[key]
	e.spellsMu.Unlock()
	if known {
		return nil
	}
	_, _, err := e.opts.Library.GetVersion(ctx, prog.Spell.ID, prog.Hash)
	if errors.Is(err, spells.ErrNotFound) {
		_, err = e.opts.Library.Save(ctx, prog.Spell, user)
		if errors.Is(err, spells.ErrForbidden) {
			// The caller may run a spell another user owns; keeping the
			// version it ran is the executor's business, not a save in
			// the caller's name.
			_, err = e.opts.Library.Save(ctx, prog.Spell, "")
		}
	}
	if err != nil {
		return fmt.Errorf("keep spell %q version %s in the log: %w", prog.Spell.ID, prog.Hash, err)
	}
	e.spellsMu.Lock()
	e.saved[key] = true
	e.spellsMu.Unlock()
	return nil
}

// loadSpell loads the spell version with hash from the library.
func (e *Executor) loadSpell(ctx context.Context, spellID, hash string) (*graph.Spell, error) {
	s, _, err := e.opts.Library.GetVersion(ctx, spellID, hash)
	if errors.Is(err, spells.ErrNotFound) {
		return nil, fmt.Errorf("spell %q version %s: %w", spellID, hash, ErrSpellNotSaved)
	}
	if err != nil {
		return nil, err
	}
	if got := graph.Hash(s); got != hash {
		return nil, fmt.Errorf("spell %q from the log hashes to %s, not %s (was it saved by an older format?)", spellID, got, hash)
	}
	return s, nil
}
