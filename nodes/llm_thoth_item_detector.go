package nodes

import "github.com/grimoire-run/grimoire/graph"

// Item Detector: Thoth's packages/core/src/components/ItemDetector.ts (and
// the identical components/deprecated/ItemDetector.ts).
func init() {
	Register("Item Detector", thothFewshotType(thothFewshotSpec{
		name:         "Item Detector",
		doc:          "Thoth's item detector: asks the model which item an action takes.",
		inputs:       []graph.Port{dataIn("string", "string", "the action text")},
		outputs:      []graph.Port{dataOut("detectedItem", "string", "the item, as the model named it (trimmed)")},
		fewshot:      thothItemFewshot,
		fewshotField: true,
		stop:         []string{"\n"},
		maxTokens:    100,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["string"] + ","
		},
		parse: func(completion string) graph.Outputs {
			return graph.Outputs{"detectedItem": thothTrim(completion)}
		},
	}))
}

const thothItemFewshot = `Given an action, detect the item which is taken.

Action, Item: pick up the goblet from the fountain, goblet
Action, Item: grab the axe from the tree stump, axe
Action, Item: lean down and grab the spear from the ground, spear
Action, Item: gather the valerian plant from the forest, valerian plant
Action, Item: get the necklace from the box, necklace
Action, Item: `
