package nodes

import (
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

// Difficulty Detector: Thoth's DifficultyDetector.ts (components.ts imports
// it from ./DifficultyDetector; the stored copy is the deprecated
// component). Its ports and fewshot also appear in Thoth's "Difficulty
// Detector Test" spell.
func init() {
	Register("Difficulty Detector", thothFewshotType(thothFewshotSpec{
		name:         "Difficulty Detector",
		doc:          "Thoth's difficulty detector: asks the model how hard an action is (\"8/20\") and which stat it uses.",
		inputs:       []graph.Port{dataIn("action", "string", "the action text")},
		outputs:      []graph.Port{dataOut("difficulty", "string", "the difficulty, e.g. \"8/20\"; no value when the model answers nothing"), dataOut("category", "string", "the stat: strength, dexterity, endurance, intelligence, charisma…; no value when the answer has no \", \"")},
		fewshot:      thothDifficultyFewshot,
		fewshotField: true,
		stop:         []string{"\n"},
		maxTokens:    100,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["action"] + ","
		},
		parse: parseThothDifficulty,
	}))
}

// parseThothDifficulty splits the trimmed answer "8/20, strength" on ", "
// into difficulty and category; further pieces are ignored and a missing
// piece has no value, as in the original's destructuring.
func parseThothDifficulty(completion string) graph.Outputs {
	s := thothTrim(completion)
	out := graph.Outputs{}
	if s == "" {
		return out
	}
	parts := strings.Split(s, ", ")
	out["difficulty"] = parts[0]
	if len(parts) > 1 {
		out["category"] = parts[1]
	}
	return out
}

const thothDifficultyFewshot = `Given an action, predict how hard it would be for a normal human in a fantasy world and what type of stat it uses.

Stat Types: strength, dexterity, endurance, intelligence, charisma

Action, Difficulty, Type: throw an anvil at the man, 8/20, strength
Action, Difficulty, Type: cast a fireball spell, 6/20, intelligence
Action, Difficulty, Type: I'm confident that I can kill the dragon! 2/20, charisma
Action, Difficulty, Type: convince the king to give you his kingdom, 13/20, charisma
Action, Difficulty, Type: talk to the merchant, 1/20, charisma
Action, Difficulty, Type: ask the man if you can jump on his back and ride him around, 11/20, charisma
Action, Difficulty, Type: pick up the mountain, 20/20, strength
Action, Difficulty, Type: enter the room and tell the governor that you'll slay the dragon, 4/20, charisma
Action, Difficulty, Type: run away, 4/20, dexterity
Action, Difficulty, Type: ask why the dragon has been attacking people, 2/20, charisma
Action, Difficulty, Type: say something wise, 6/20, intelligence
Action, Difficulty, Type: sees a massive dragon flying over head, 7/20, Luck
Action, Difficulty, Type: attack the Dragon, 6/20, strength
Action, Difficulty, Type: continue harder and harder, 6/20, endurance
Action, Difficulty, Type: feel pity for the gnome, 1/20, charisma
Action, Difficulty, Type: set up a small blanket and pour the dragon a drink, 2/20, dexterity
Action, Difficulty, Type: says "wait are you leaving me?", 2/20, charisma
Action, Difficulty, Type: leap over the chasm, 7/20, dexterity
Action, Difficulty, Type: talk to the bartender who gives you a pile of gold, 11/20, Luck
Action, Difficulty, Type: climb up the mountain, 6/20, endurance
Action, Difficulty, Type: goes to talk to the king, 2/20, charisma
Action, Difficulty, Type: ask who the evil demon king is, 2/20, charisma
Action, Difficulty, Type: do a back flip, 6/20, dexterity
Action, Difficulty, Type: `
