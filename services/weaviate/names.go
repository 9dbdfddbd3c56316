package weaviate

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Weaviate limits names: a class is [A-Z][_0-9A-Za-z]* and a tenant
// [A-Za-z0-9_-]{1,64}. Grimoire's knowledge bases and users are any
// strings, so they are escaped: lower-case letters and digits stay, every
// other byte becomes _XX (hex). Upper-case letters are escaped too, because
// Weaviate treats class names that differ only in case as one. A name too
// long once escaped becomes _x and a SHA-256 prefix; "_x" cannot come out
// of escaping ('x' is not a hex digit), so the two forms never collide.

const (
	maxClassBody  = 200 // Weaviate allows 255 for a class name; leave room for the prefix
	maxTenantName = 64
)

func escapeName(s string, keepDash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', keepDash && c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

func hashedName(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return ("_x" + hex.EncodeToString(sum[:]))[:n]
}

// className maps a knowledge base name to its Weaviate class.
func className(prefix, kb string) string {
	body := escapeName(kb, false)
	if len(body) > maxClassBody {
		body = hashedName(kb, 2+64)
	}
	return prefix + "_" + body
}

// tenantName maps a user to a Weaviate tenant.
func tenantName(user string) string {
	name := escapeName(user, true)
	if len(name) > maxTenantName {
		name = hashedName(user, maxTenantName)
	}
	return name
}

// uuidNamespace is the UUIDv5 namespace of Grimoire document ids (itself
// UUIDv5 of "grimoire.document" in the URL namespace).
var uuidNamespace = uuidV5([16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, "grimoire.document")

// objectID is the Weaviate object UUID of a document id: the same id always
// gives the same object, so an upsert replaces it.
func objectID(docID string) string {
	u := uuidV5(uuidNamespace, docID)
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// uuidV5 is RFC 9562 UUID version 5 (SHA-1, name-based).
func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}
