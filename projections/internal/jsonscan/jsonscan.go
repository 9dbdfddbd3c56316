// Package jsonscan reads single fields out of the JSON that encoding/json
// wrote for Grimoire's events without decoding the rest, for read models
// that replay large logs (a NodeCompleted carries outputs a model never
// looks at). Each function reports false when it cannot be sure, and the
// caller then decodes the whole event. It imports events (for Usage) and
// the standard library only.
package jsonscan

import (
	"bytes"
	"strconv"

	"github.com/grimoire-run/grimoire/events"
)

// String returns the string value that follows the first occurrence of
// pattern (a key with its colon and opening quote, like []byte(`"time":"`))
// when it holds no escapes. The pattern cannot match inside a string
// value: a quote there is escaped.
func String(data, pattern []byte) (string, bool) {
	i := bytes.Index(data, pattern)
	if i < 0 {
		return "", false
	}
	rest := data[i+len(pattern):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// LastObject returns the value of the top-level object's last field when
// that field is named by pattern (like []byte(`,"usage":{`)) and the value
// runs to the closing brace. encoding/json writes struct fields in order,
// so a field declared last is written last. A match inside a nested value
// leaves more than one object before the closing brace: parse the result
// with Flat (as Usage does), which rejects it.
func LastObject(data, pattern []byte) ([]byte, bool) {
	data = bytes.TrimRight(data, " \t\r\n")
	i := bytes.LastIndex(data, pattern)
	if i < 0 || len(data) < 2 || data[len(data)-1] != '}' || data[len(data)-2] != '}' {
		return nil, false
	}
	return data[i+len(pattern)-1 : len(data)-1], true
}

// Flat calls fn for each field of a flat JSON object (string, number,
// true, false or null values; raw, with a string's quotes removed) and
// reports false, having called fn for some fields perhaps, when obj is not
// such an object or a string holds escapes.
func Flat(obj []byte, fn func(key string, value []byte)) bool {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return skipSpace(obj, i+1) == len(obj)
	}
	for {
		key, next, ok := str(obj, i)
		if !ok {
			return false
		}
		i = skipSpace(obj, next)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		i = skipSpace(obj, i+1)
		if i >= len(obj) {
			return false
		}
		var val []byte
		if obj[i] == '"' {
			v, next, ok := str(obj, i)
			if !ok {
				return false
			}
			val, i = []byte(v), next
		} else {
			j := i
			for j < len(obj) && obj[j] != ',' && obj[j] != '}' && obj[j] != ' ' && obj[j] != '\n' && obj[j] != '\t' && obj[j] != '\r' {
				if obj[j] == '{' || obj[j] == '[' || obj[j] == '"' {
					return false
				}
				j++
			}
			if j == i || !literal(obj[i:j]) {
				return false
			}
			val, i = obj[i:j], j
		}
		fn(key, val)
		i = skipSpace(obj, i)
		if i >= len(obj) {
			return false
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return skipSpace(obj, i+1) == len(obj)
		default:
			return false
		}
	}
}

// literal reports whether b is a JSON number, true, false or null.
func literal(b []byte) bool {
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// str reads a string without escapes starting at b[i] == '"'.
func str(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	j := bytes.IndexByte(b[i+1:], '"')
	if j < 0 {
		return "", i, false
	}
	s := b[i+1 : i+1+j]
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return "", i, false
		}
	}
	return string(s), i + 2 + j, true
}

// Usage reads the usage object of a NodeCompleted (as LastObject found
// it) without reflection.
func Usage(obj []byte) (events.Usage, bool) {
	var u events.Usage
	good := true
	num := func(v []byte) int {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			good = false
		}
		return n
	}
	ok := Flat(obj, func(k string, v []byte) {
		switch k {
		case "model":
			u.Model = string(v)
		case "promptTokens":
			u.PromptTokens = num(v)
		case "completionTokens":
			u.CompletionTokens = num(v)
		case "totalTokens":
			u.TotalTokens = num(v)
		case "calls":
			u.Calls = num(v)
		}
	})
	return u, ok && good
}
