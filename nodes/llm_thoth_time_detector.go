package nodes

import "github.com/grimoire-run/grimoire/graph"

// Time Detector: Thoth's packages/core/src/components/TimeDetector.ts (and
// the identical components/deprecated/TimeDetector.ts).
func init() {
	Register("Time Detector", thothFewshotType(thothFewshotSpec{
		name:         "Time Detector",
		doc:          "Thoth's time detector: asks the model how long an action takes (seconds, minutes, hours, days, weeks, years).",
		inputs:       []graph.Port{dataIn("string", "string", "the action text")},
		outputs:      []graph.Port{dataOut("detectedTime", "string", "the duration category, as the model wrote it (trimmed)")},
		fewshot:      thothTimeFewshot,
		fewshotField: true,
		stop:         []string{"\n"},
		maxTokens:    100,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["string"] + ","
		},
		parse: func(completion string) graph.Outputs {
			return graph.Outputs{"detectedTime": thothTrim(completion)}
		},
	}))
}

const thothTimeFewshot = `Given an action, predict how long it would take to complete out of the following categories: seconds, minutes, hours, days, weeks, years.

Action, Time: pick up the bucket, seconds
Action, Time: cast a fireball spell on the goblin, seconds
Action, Time: convince the king to give you his kingdom, minutes
Action, Time: talk to the merchant, minutes
Action, Time: leap over the chasm, seconds
Action, Time: climb up the mountain, days
Action, Time: throw a stone at the goblin, seconds
Action, Time: run away from the orcs, minutes
Action, Time: ask the baker to give you a free loaf of bread, seconds
Action, Time: grab a torch off the wall, seconds
Action, Time: throw your sword at the table, seconds
Action, Time: drink your potion, seconds
Action, Time: run away to Worgen, days
Action, Time: travel to the forest, days
Action, Time: go to the city of Braxos, days
Action, Time: sail across the ocean, weeks
Action, Time: take over the kingdom, years
Action, Time: `
