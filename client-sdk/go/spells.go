package grimoire

import (
	"bytes"
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

// SpellVersion identifies a saved version of a spell.
type SpellVersion struct {
	SpellID string `json:"spellId"`
	// Version counts the spell's saved versions from 1.
	Version int `json:"version"`
	// Hash is the version's content hash (its identity).
	Hash string `json:"hash"`
}

// Spell is a spell document as the server returns it.
type Spell struct {
	SpellVersion
	// Document is the spell in Grimoire's native format.
	Document json.RawMessage
}

// SpellSummary is one entry of ListSpells.
type SpellSummary struct {
	ID       string           `json:"id"`
	Name     string           `json:"name,omitempty"`
	Version  int              `json:"version"`
	Hash     string           `json:"hash"`
	Owner    string           `json:"owner,omitempty"`
	Sharing  Sharing          `json:"sharing"`
	Updated  time.Time        `json:"updated"`
	Deleted  bool             `json:"deleted,omitempty"`
	Versions []SpellVersionAt `json:"versions,omitempty"`
}

// SpellVersionAt is one saved version in a SpellSummary.
type SpellVersionAt struct {
	Version int       `json:"version"`
	Hash    string    `json:"hash"`
	User    string    `json:"user,omitempty"`
	Time    time.Time `json:"time"`
}

// PutSpell saves document (a spell in Grimoire's native format or the
// Thoth/Magick format, as JSON) as a new version of spell id.
func (c *Client) PutSpell(ctx context.Context, id string, document []byte) (SpellVersion, error) {
	var v SpellVersion
	if !json.Valid(document) {
		return v, fmt.Errorf("grimoire: put spell %q: the document is not valid JSON", id)
	}
	target := c.endpoint(nil, "v1", "spells", id)
	req, err := c.newRequest(ctx, http.MethodPut, target, bytes.NewReader(document))
	if err != nil {
		return v, err
	}
	resp, err := c.send(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("grimoire: put spell %q: decode answer: %w", id, err)
	}
	return v, nil
}

// GetSpell returns the latest version of spell id.
func (c *Client) GetSpell(ctx context.Context, id string) (*Spell, error) {
	return c.getSpell(ctx, id, nil)
}

// GetSpellVersion returns the version of spell id with content hash hash.
func (c *Client) GetSpellVersion(ctx context.Context, id, hash string) (*Spell, error) {
	return c.getSpell(ctx, id, url.Values{"hash": {hash}})
}

func (c *Client) getSpell(ctx context.Context, id string, q url.Values) (*Spell, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint(q, "v1", "spells", id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("grimoire: get spell %q: %w", id, err)
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("grimoire: get spell %q: the answer is not JSON", id)
	}
	s := &Spell{Document: doc}
	s.SpellID = id
	if etag := resp.Header.Get("ETag"); etag != "" {
		if h, err := strconv.Unquote(etag); err == nil {
			s.Hash = h
		} else {
			s.Hash = strings.Trim(etag, `"`)
		}
	}
	s.Version, _ = strconv.Atoi(resp.Header.Get("Grimoire-Spell-Version"))
	return s, nil
}

// DeleteSpell deletes spell id (its versions stay in the server's log).
func (c *Client) DeleteSpell(ctx context.Context, id string) error {
	_, err := c.doJSON(ctx, http.MethodDelete, c.endpoint(nil, "v1", "spells", id), nil, nil)
	return err
}

// ListSpells returns the caller's spells (an analyst's: every spell).
func (c *Client) ListSpells(ctx context.Context) ([]SpellSummary, error) {
	var out struct {
		Spells []SpellSummary `json:"spells"`
	}
	if _, err := c.doJSON(ctx, http.MethodGet, c.endpoint(nil, "v1", "spells"), nil, &out); err != nil {
		return nil, err
	}
	return out.Spells, nil
}

// Sharing says who besides its owner may read and run a spell.
type Sharing struct {
	// Public lets every user read and run it.
	Public bool `json:"public"`
	// Readers are the users (JWT subjects) it is shared with.
	Readers []string `json:"readers"`
}

// SpellSharing is a spell's owner and sharing.
type SpellSharing struct {
	SpellID string `json:"spellId"`
	Owner   string `json:"owner,omitempty"`
	Sharing
}

// GetSharing returns who may read and run spell id.
func (c *Client) GetSharing(ctx context.Context, id string) (SpellSharing, error) {
	var out SpellSharing
	_, err := c.doJSON(ctx, http.MethodGet, c.endpoint(nil, "v1", "spells", id, "sharing"), nil, &out)
	return out, err
}

// ShareSpell replaces spell id's sharing (its owner or an admin only). A
// spell shared with a user runs for them directly, and as a sub-spell or
// tool of their spells when named with its owner, as "owner/id".
func (c *Client) ShareSpell(ctx context.Context, id string, sharing Sharing) (SpellSharing, error) {
	if sharing.Readers == nil {
		sharing.Readers = []string{}
	}
	var out SpellSharing
	_, err := c.doJSON(ctx, http.MethodPut, c.endpoint(nil, "v1", "spells", id, "sharing"), sharing, &out)
	return out, err
}
