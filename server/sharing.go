package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/server/spells"
)

// spellSharing is the body of GET and PUT /v1/spells/{id}/sharing.
type spellSharing struct {
	SpellID string   `json:"spellId"`
	Owner   string   `json:"owner,omitempty"`
	Public  bool     `json:"public"`
	Readers []string `json:"readers"`
}

func sharingOf(v spells.Version) spellSharing {
	readers := v.Sharing.Readers
	if readers == nil {
		readers = []string{}
	}
	return spellSharing{SpellID: v.SpellID, Owner: v.Owner, Public: v.Sharing.Public, Readers: readers}
}

// handleGetSharing answers who besides its owner may read and run a spell.
func (s *Server) handleGetSharing(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	_, v, err := s.opts.Library.Get(r.Context(), id)
	if err == nil && !mayRead(identityOf(r), v.Owner, v.Sharing) {
		err = forbidden(fmt.Sprintf("spell %q belongs to another user", id))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sharingOf(v))
}

// handlePutSharing replaces a spell's sharing: {"public": bool, "readers":
// [users]}. Only its owner or an admin may.
func (s *Server) handlePutSharing(w http.ResponseWriter, r *http.Request) {
	ident := identityOf(r)
	id := r.PathValue("id")
	var body struct {
		Public  bool     `json:"public"`
		Readers []string `json:"readers"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			s.writeError(w, r, err)
			return
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		s.writeError(w, r, badRequest(`body must be {"public": true|false, "readers": ["user", ...]}: `+err.Error()))
		return
	}
	_, v, err := s.opts.Library.Get(r.Context(), id)
	if err == nil && !mayModify(ident, v.Owner) {
		err = forbidden(fmt.Sprintf("spell %q belongs to %s: only its owner shares it", id, ownerName(v.Owner)))
	}
	if err == nil {
		v, err = s.opts.Library.Share(r.Context(), id, libraryUser(ident), events.Sharing{Public: body.Public, Readers: body.Readers})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sharingOf(v))
}
