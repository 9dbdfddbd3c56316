package weaviate

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

var (
	classRE  = regexp.MustCompile(`^[A-Z][_0-9A-Za-z]*$`)
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,64}$`)
)

func TestNamesAreValidAndDistinct(t *testing.T) {
	names := []string{
		"docs", "Docs", "DOCS", "my-kb", "my_kb", "my kb", "my_2dkb", "_2d", "ü", "ü ", "a/b", "a.b",
		"auth0|5f7c8ec7c33c6c004bbafe82", "alice@example.com", "Alice@example.com",
		strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("long", 80), strings.Repeat("long", 80) + "!",
		"_x" + strings.Repeat("0", 62),
	}
	classes, tenants := map[string]string{}, map[string]string{}
	for _, n := range names {
		c, tn := className("Grimoire", n), tenantName(n)
		if !classRE.MatchString(c) || len(c) > 255 {
			t.Errorf("class name %q for %q is not a valid Weaviate class name", c, n)
		}
		if !tenantRE.MatchString(tn) {
			t.Errorf("tenant name %q for %q is not a valid Weaviate tenant name", tn, n)
		}
		// Weaviate compares class names without case.
		if prev, ok := classes[strings.ToLower(c)]; ok {
			t.Errorf("%q and %q map to the same class %q", prev, n, c)
		}
		classes[strings.ToLower(c)] = n
		if prev, ok := tenants[strings.ToLower(tn)]; ok {
			t.Errorf("%q and %q map to the same tenant %q", prev, n, tn)
		}
		tenants[strings.ToLower(tn)] = n
	}
	if got := className("Grimoire", "docs"); got != "Grimoire_docs" {
		t.Errorf("simple names stay readable: got %q", got)
	}
	if got := tenantName("user-42"); got != "user-42" {
		t.Errorf("simple user ids stay readable: got %q", got)
	}
}

func TestObjectIDIsUUIDv5(t *testing.T) {
	// RFC 9562 example: UUIDv5 of "www.example.com" in the DNS namespace.
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	u := uuidV5(dns, "www.example.com")
	if got := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Fatalf("uuidV5: got %s", got)
	}
	if objectID("doc-1") != objectID("doc-1") || objectID("doc-1") == objectID("doc-2") {
		t.Fatal("object ids must be a function of the document id")
	}
}
