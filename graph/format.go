package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Format names a spell file format that ParseSpell understands.
type Format string

const (
	// FormatNative is Grimoire's own document (docs/spell-format.md).
	FormatNative Format = "native"
	// FormatRete is a Thoth or Magick (Rete.js v1 editor) export.
	FormatRete Format = "rete"
)

func (f Format) describe() string {
	switch f {
	case FormatNative:
		return "Grimoire spell"
	case FormatRete:
		return "Thoth/Magick spell"
	}
	return "spell"
}

// NativeFormatVersion is the value of the "format" field that marks a native
// spell document. A document with another "grimoire/spell@…" value is
// refused rather than guessed at.
const NativeFormatVersion = "grimoire/spell@1"

const nativeFormatPrefix = "grimoire/spell@"

// ParseError is a spell document that could not be read. It says where: a
// line and column for malformed JSON and wrongly typed values, or a JSON path
// for values that have the right JSON type but the wrong shape.
type ParseError struct {
	Format Format // "" when the format could not be detected
	// In names the embedded document the position refers to, such as
	// `the "graph" string` for a Magick graph saved as a JSON string; empty
	// for the document itself.
	In string
	// Line and Column (1-based, columns count characters) locate the
	// problem; both are 0 when the position is unknown.
	Line, Column int
	// Path is the JSON path of the offending value, when known
	// (`edges[3].from`, `chain.nodes["233"].position`).
	Path string
	Err  error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("parse ")
	b.WriteString(e.Format.describe())
	if e.In != "" {
		b.WriteString(" (in ")
		b.WriteString(e.In)
		b.WriteString(")")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d, column %d", e.Line, e.Column)
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseSpell reads a spell in either format, detecting which one it was given:
// a document whose "format" is NativeFormatVersion is native; one with a
// "chain" (Thoth) or "graph" (Magick) member, or a bare Rete graph (an object
// whose "nodes" is an object keyed by node id), is a Thoth/Magick export.
//
// Errors are *ParseError. ParseSpell does not check the graph against node
// types; call Validate for that.
func ParseSpell(data []byte) (*Spell, Format, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // editors on Windows save a BOM
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return nil, "", &ParseError{Line: 1, Column: 1, Err: fmt.Errorf("a spell is a JSON object, got %s", te.Value)}
		}
		return nil, "", jsonError("", "", data, err)
	}
	if top == nil {
		return nil, "", &ParseError{Line: 1, Column: 1, Err: errors.New("a spell is a JSON object, got null")}
	}
	if raw, ok := top["format"]; ok {
		var f string
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, "", &ParseError{Path: "format", Err: fmt.Errorf("want the string %q", NativeFormatVersion)}
		}
		switch {
		case f == NativeFormatVersion:
			s, err := parseNative(data)
			return s, FormatNative, err
		case strings.HasPrefix(f, nativeFormatPrefix):
			return nil, FormatNative, &ParseError{Format: FormatNative, Path: "format",
				Err: fmt.Errorf("unsupported version %q: this Grimoire reads %q; upgrade Grimoire", f, NativeFormatVersion)}
		default:
			return nil, "", &ParseError{Path: "format",
				Err: fmt.Errorf("unknown format %q: want %q, or a Thoth/Magick export with \"chain\" or \"graph\"", f, NativeFormatVersion)}
		}
	}
	if isPresent(top["chain"]) || isPresent(top["graph"]) {
		s, err := parseRete(data)
		return s, FormatRete, err
	}
	if nodes, ok := top["nodes"]; ok {
		switch firstByte(nodes) {
		case '{':
			s, err := parseRete(data)
			return s, FormatRete, err
		case '[':
			return nil, FormatNative, &ParseError{Format: FormatNative, Path: "format",
				Err: fmt.Errorf("missing: add \"format\": %q at the top of the document", NativeFormatVersion)}
		}
	}
	return nil, "", &ParseError{Err: fmt.Errorf("not a spell: want a Grimoire spell (\"format\": %q) or a Thoth/Magick export (with \"chain\" or \"graph\")", NativeFormatVersion)}
}

func isPresent(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func firstByte(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// jsonError turns an encoding/json error into a ParseError with a position.
func jsonError(f Format, in string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineColumn(data, se.Offset)
		msg := strings.TrimPrefix(se.Error(), "json: ")
		if msg == "unexpected end of JSON input" {
			msg = "unexpected end of input: the document is cut short"
		}
		return &ParseError{Format: f, In: in, Line: line, Column: col, Err: errors.New(msg)}
	case errors.As(err, &te):
		line, col := lineColumn(data, te.Offset)
		return &ParseError{Format: f, In: in, Line: line, Column: col, Path: te.Field,
			Err: fmt.Errorf("want %s, got %s", jsonTypeName(te.Type), te.Value)}
	}
	return &ParseError{Format: f, In: in, Err: errors.New(strings.TrimPrefix(err.Error(), "json: "))}
}

// lineColumn converts a byte offset into a 1-based line and a 1-based column
// counted in characters.
func lineColumn(data []byte, offset int64) (line, col int) {
	if offset < 0 {
		offset = 0
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte{'\n'})
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	// The offset points just past the offending byte; report that byte.
	col = utf8.RuneCount(before)
	if col == 0 {
		col = 1
	}
	return line, col
}

func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return "another value"
}
