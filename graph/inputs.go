package graph

import (
	"fmt"
	"slices"
	"strings"
)

// InputError reports run inputs that do not fit the spell's Input nodes:
// names no Input node reads (a typo, usually) and required inputs the
// caller left out. Problems locates each: the Input node for a missing one,
// the spell for an unknown one (Field "inputs.NAME").
type InputError struct {
	SpellID  string
	Unknown  []string // given, but read by no Input node, sorted
	Missing  []string // required, but not given, sorted
	Declared []string // the names the spell's Input nodes read, sorted
	Problems []Problem
}

func (e *InputError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return fmt.Sprintf("inputs of spell %q: %s", e.SpellID, strings.Join(msgs, "; "))
}

// CheckInputs checks a run's inputs against the spell's Input nodes (every
// RoleInput type, by the name it reads): an input that no Input node reads
// is refused unless allowUnknown (editors that send extra keys opt out), and
// an Input node configured "required": true must be given a value (its
// default does not count). It returns nil or an *InputError.
func (s *Spell) CheckInputs(c Catalog, inputs map[string]any, allowUnknown bool) error {
	declared := map[string]*Node{}
	var required []*Node
	for i := range s.Nodes {
		n := &s.Nodes[i]
		t, ok := c.Lookup(n.Type)
		if !ok || t.Role != RoleInput {
			continue
		}
		name := t.PortName(n)
		if _, dup := declared[name]; !dup {
			declared[name] = n
		}
		if req, _ := n.Config["required"].(bool); req {
			required = append(required, n)
		}
	}
	names := make([]string, 0, len(declared))
	for name := range declared {
		names = append(names, name)
	}
	slices.Sort(names)
	e := &InputError{SpellID: s.ID, Declared: names}
	if !allowUnknown {
		for name := range inputs {
			if _, ok := declared[name]; !ok {
				e.Unknown = append(e.Unknown, name)
			}
		}
		slices.Sort(e.Unknown)
		for _, name := range e.Unknown {
			e.Problems = append(e.Problems, Problem{Field: "inputs." + name, Message: unknownInputMessage(name, names)})
		}
	}
	seen := map[string]bool{}
	for _, n := range required {
		t, _ := c.Lookup(n.Type)
		name := t.PortName(n)
		if _, given := inputs[name]; given || seen[name] {
			continue
		}
		seen[name] = true
		e.Missing = append(e.Missing, name)
		e.Problems = append(e.Problems, Problem{NodeID: n.ID, Field: "config.required",
			Message: fmt.Sprintf("input %q is required (its Input node %q says so) and was not given", name, n.ID)})
	}
	slices.Sort(e.Missing)
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func unknownInputMessage(name string, declared []string) string {
	msg := fmt.Sprintf("unknown input %q", name)
	if near := Nearest(name, declared); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	}
	if len(declared) == 0 {
		return msg + ": the spell has no Input nodes"
	}
	quoted := make([]string, len(declared))
	for i, d := range declared {
		quoted[i] = fmt.Sprintf("%q", d)
	}
	return msg + ": the spell's inputs are " + strings.Join(quoted, ", ")
}

// Nearest returns the candidate closest to word by edit distance (case
// ignored), or "" when none is close enough to be a likely typo: at most
// a third of the word's length, and never more than 3 edits.
func Nearest(word string, candidates []string) string {
	best, bestD := "", -1
	w := strings.ToLower(word)
	limit := min(max(len([]rune(w))/3, 1), 3)
	for _, c := range candidates {
		d := editDistance(w, strings.ToLower(c))
		if d <= limit && (bestD < 0 || d < bestD || (d == bestD && c < best)) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau–Levenshtein distance (optimal string
// alignment: insertions, deletions, substitutions, adjacent swaps).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20 // too long to be worth comparing
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
