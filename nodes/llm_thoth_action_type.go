package nodes

import "github.com/grimoire-run/grimoire/graph"

// Action Type Classifier: Thoth's
// packages/core/src/components/deprecated/ActionType.ts.
func init() {
	Register("Action Type Classifier", thothFewshotType(thothFewshotSpec{
		name:         "Action Type Classifier",
		doc:          "Thoth's action classifier: asks the model what kind of action a text is (look, get, use, craft, dialog, movement, travel, combat, consume, other).",
		inputs:       []graph.Port{dataIn("action", "string", "the action text")},
		outputs:      []graph.Port{dataOut("actionType", "string", "the action's type, as the model wrote it (trimmed)")},
		fewshot:      thothActionTypeFewshot,
		fewshotField: true,
		// The original throws on an empty action too.
		requireText: true,
		stop:        []string{"\n"},
		maxTokens:   100,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["action"] + ","
		},
		parse: func(completion string) graph.Outputs {
			return graph.Outputs{"actionType": thothTrim(completion)}
		},
	}))
}

const thothActionTypeFewshot = `Given an action classify the type of action it is

Types: look, get, use, craft, dialog, movement, travel, combat, consume, other

Action, Type: pick up the bucket, get
Action, Type: cast a fireball spell on the goblin, combat
Action, Type: convince the king to give you his kingdom, dialog
Action, Type: talk to the merchant, dialog
Action, Type: leap over the chasm, movement
Action, Type: climb up the mountain, travel
Action, Type: throw a stone at the goblin, combat
Action, Type: run away from the orcs, movement
Action, Type: ask the baker to give you a free loaf of bread, dialog
Action, Type: go to the forest, travel
Action, Type: grab a torch off the wall, get
Action, Type: throw your sword at the table, use
Action, Type: journey to the city, travel
Action, Type: drink your potion, use
Action, Type: `
