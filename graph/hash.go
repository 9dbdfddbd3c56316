package graph

import (
	"crypto/sha256"
	"encoding/hex"
)

// editorStateKeys are node config keys that Thoth and Magick store in a
// node's data but that only the editor uses: the last run's display and
// status, panel layout, locks and playtest switches. They are kept in Config
// (an import loses nothing) but are not part of the content hash, and node
// types must not read them.
var editorStateKeys = map[string]bool{
	"display":         true, // last output shown on the node
	"success":         true, // last run's status light
	"error":           true,
	"dataControls":    true, // inspector panel state (expanded sections)
	"nodeLocked":      true,
	"playtestToggle":  true, // playtest window switches
	"sendToPlaytest":  true,
	"receivePlaytest": true,
}

// IsEditorStateKey reports whether a node config key holds editor state that
// the content hash ignores (see Hash). Node types must not give such a key a
// meaning, or two spells that behave differently would hash the same.
func IsEditorStateKey(key string) bool { return editorStateKeys[key] }

// contentConfig returns cfg without editor state keys; cfg itself when it
// has none.
func contentConfig(cfg map[string]any) map[string]any {
	has := false
	for k := range cfg {
		if editorStateKeys[k] {
			has = true
			break
		}
	}
	if !has {
		return cfg
	}
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		if !editorStateKeys[k] {
			out[k] = v
		}
	}
	return out
}

// Hash is the spell's content hash, its version identity: "sha256:" and the
// hex SHA-256 of the canonical native document written compactly, with every
// node's position removed and the editor state keys (IsEditorStateKey)
// removed from every node's config. The spell id, name and meta, node ids,
// types, config, declared ports and edges all count; the order of nodes and
// edges in the input does not.
//
// So moving nodes around, or a spell re-saved by Thoth after a playtest,
// keeps its hash, and a spell imported from Thoth/Magick hashes the same as
// its native rendering. Hash returns "" only for a spell that has no JSON
// form (a config value such as NaN or a channel, which Validate reports).
func Hash(s *Spell) string {
	if s == nil {
		return ""
	}
	b, err := encodeNative(toNativeDoc(s, true), false)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
