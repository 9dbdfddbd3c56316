package nodes

import "github.com/grimoire-run/grimoire/graph"

// Safety Verifier: Thoth's
// packages/core/src/components/deprecated/SafetyVerifier.ts.
func init() {
	Register("Safety Verifier", thothFewshotType(thothFewshotSpec{
		name:         "Safety Verifier",
		doc:          "Thoth's safety verifier: asks the model to rate an action X, M, T or E; outputs false only for X.",
		inputs:       []graph.Port{dataIn("string", "string", "the action text to rate")},
		outputs:      []graph.Port{dataOut("boolean", "boolean", "true unless the model rated the text X (explicit); M, T, E and any other answer are true")},
		fewshot:      thothSafetyFewshot,
		fewshotField: true,
		stop:         []string{"\n"},
		maxTokens:    10,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["string"] + "\nRating:"
		},
		parse: func(completion string) graph.Outputs {
			return graph.Outputs{"boolean": thothTrim(completion) != "X"}
		},
	}))
}

// The rating fewshot, verbatim: its examples of unsafe actions are explicit
// on purpose, since they teach the model what X means.
const thothSafetyFewshot = `Rate the actions according to the following content categories
X: Explicit sexual content, rape, cannibalism, incest
M: Heavy violence, light sexual content, safe for adults
T: Light violence, safe for teens.
E: Safe for everyone

Action: dodge and fire a silver arrow.
Rating: E

Action: Kiss her chest
Rating: M

Action: Cum in the pig's mouth
Rating: X

Action: Lick the woman's pussy
Rating: X

Action: Behead the peasant with your axe
Rating: M

Action: pull out elon musks not a flamethrower to burn the dragon
Rating: T

Action: melt gold in cave and cover dragon with the melted gold
Rating: T

Action: Laughed you figured your sister and fucked your best friend.
Rating: X

Action: pick up governor and toss him out the window like from the emperors groove, with him screaming SORRRY
Rating: T

Action: Rub the woman's genitals
Rating: X

Action: Stroke the persons boobs
Rating: X

Action: Pick up the bartender
Rating: T

Action: Ask the guard why he's here.
Rating: E

Action: Release the biggest load in the universe
Rating: X

Action: Cast a spell to summon a fireball
Rating: T

Action: Have sex with her
Rating: X

Action: Take out my flamethrower
Rating: T

Action: Slice off the bandit's head
Rating: M

Action: Jerk off
Rating: X

Action: `
