package nodes

import (
	"context"
	"slices"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Profanity Filter", newProfanityFilter) }

// profanityWords is Grimoire's built-in word list. Magick's
// nodes/text/ProfanityFilter.ts calls hasBadWords from the "expletives"
// npm package, whose list of several hundred words is not shipped here;
// this short list holds the common English expletives and slurs. A word
// matches whole (case-insensitively), or with a common English ending
// ("fucking", "shitty", "bitches"), so "cockpit" or "Dickens" stay clean.
var profanityWords = []string{
	"arse", "arsehole", "asshole", "bastard", "bitch", "bollocks", "bullshit",
	"cock", "cocksucker", "cunt", "dick", "dickhead", "dipshit", "fag", "faggot",
	"fuck", "motherfucker", "nigga", "nigger", "piss", "prick", "pussy", "retard",
	"shit", "slut", "twat", "wanker", "whore",
}

// Profanity Filter fires "true" (labelled Dirty in Magick) when its input
// contains a listed word, else "false" (Clean).
func newProfanityFilter(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Profanity Filter",
		Family: "text",
		Doc:    "Fires \"true\" (Dirty) when its input contains a word from a built-in profanity list, else \"false\" (Clean).",
		Inputs: []graph.Port{triggerIn, dataIn("string", "string", "the text to check (required)")},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "Dirty: fires when the text contains profanity"},
			{Name: "false", Kind: graph.Trigger, Doc: "Clean: fires otherwise"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				s, err := requiredTextInput(a, "string")
				if err != nil {
					return graph.Result{}, err
				}
				if hasProfanity(s) {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}

var profanityEndings = []string{"", "s", "es", "ed", "er", "ers", "ing", "in", "y", "ty", "head", "heads"}

func hasProfanity(s string) bool {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
	for _, w := range words {
		for _, bad := range profanityWords {
			rest, ok := strings.CutPrefix(w, bad)
			if ok && slices.Contains(profanityEndings, rest) {
				return true
			}
		}
	}
	return false
}
