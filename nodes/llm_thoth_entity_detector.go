package nodes

import (
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

// Entity Detector: Thoth's packages/core/src/components/EntityDetector.ts
// (the copy in components/deprecated/ is the same component, flagged
// deprecated).
func init() {
	Register("Entity Detector", thothFewshotType(thothFewshotSpec{
		name:         "Entity Detector",
		doc:          "Thoth's entity detector: asks the model which entities an action interacts with, and their types.",
		inputs:       []graph.Port{dataIn("action", "string", "the player's action")},
		outputs:      []graph.Port{dataOut("entities", "array", "the entities: [{name, type}], dialog-only ones dropped; no value when the model finds none or answers out of format")},
		fewshot:      thothEntityFewshot,
		fewshotField: true,
		stop:         []string{"\n\n"},
		maxTokens:    50,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["action"] + "\nEntities:"
		},
		parse: parseThothEntities,
	}))
}

// parseThothEntities reads "anvil, man\nTypes: object (use), person
// (target)" as the original worker does, quirks included: only the first
// newline is removed, an entity whose type says "(dialog)" is dropped
// together with its type, and after a drop the next entity is not checked
// (the original splices while counting up). A completion without "Types: "
// or whose first entity is "none" yields no value, as the original returns
// no outputs then.
func parseThothEntities(completion string) graph.Outputs {
	s := thothTrim(strings.Replace(completion, "\n", "", 1))
	parts := strings.Split(s, "Types: ")
	list := func(p string) []string {
		items := strings.Split(p, ", ")
		for i := range items {
			items[i] = thothTrim(items[i])
		}
		return items
	}
	if len(parts) < 2 {
		return graph.Outputs{}
	}
	entities, types := list(parts[0]), list(parts[1])
	for i := 0; i < len(entities); i++ {
		if i < len(types) && strings.Contains(types[i], "(dialog)") {
			types = append(types[:i], types[i+1:]...)
			entities = append(entities[:i], entities[i+1:]...)
		}
	}
	if len(entities) > 0 && entities[0] == "none" {
		return graph.Outputs{}
	}
	out := make([]any, len(entities))
	for i, e := range entities {
		m := map[string]any{"name": e}
		if i < len(types) { // types[i] is undefined in the original: no key
			m["type"] = types[i]
		}
		out[i] = m
	}
	return graph.Outputs{"entities": out}
}

const thothEntityFewshot = `Given an action, detect what entities the player is interacting with. Ignore entities that the player is just asking about.

Entity types: food, person, creature, object, place, other, none

Action: throw an anvil at the man
Entities: anvil, man
Types: object (use), person (target)

Action: cast a fireball spell
Entities: none
Types: none

Action: convince the king to give you his kingdom
Entities: king, kingdom
Types: person (target), object (dialog)

Action: talk to the merchant
Entities: merchant
Types: person (target)

Action: ask where the bandit leader is
Entities: bandit leader
Types: person (dialog)

Action: leap over the chasm
Entities: chasm
Types: location (target)

Action: climb up the mountain
Entities: mountain
Types: location (target)

Action: throw a stone at the goblin
Entities: stone, goblin
Types: object (use), creature (target)

Action: run away from the orcs
Entities: orcs
Types: creature (target)

Action: ask how that relates to the dragon
Entities: none
Types: none

Action: ask the baker to give you a free loaf of bread
Entities: baker, loaf of bread
Types: person (target), food (dialog)

Action: get the merchant to give you better prices
Entities: merchant
Types: person (target)

Action: keep hiking
Entities: none
Types: none

Action: convince the bartender to give you the deed to his tavern
Entities: bartender, tavern deed
Types: person (target), object (dialog)

Action: go to the woman's home
Entities: woman's home
Types: location (target)

Action: ask the man for some water
Entities: man, water
Types: person (target), object (dialog)

Action: Jump onto your horse
Entities: horse
Types: creature (target)

Action: invent a new spell
Entities: none
Types: none

Action: ask the bartender for a machine gun
Entities: bartender, machine gun
Types: person (target), object (dialog)

Action: ask why the dragon attacked
Entities: dragon
Types: creature (dialog)

Action: cast a torchlight spell
Entities: none
Types: none

Action: ask where Zolarius the wizard is
Entities: Zolarius the wizard
Types: person (dialog)

Action: throw a pie at the waitress
Entities: pie, waitress
Types: food (use), person (target)

Action: ask where the wizard is
Entities: wizard
Types: person (dialog)

Action: draw your sword and fights the wolves
Entities: sword, wolves
Types: object (use), creature (target)

Action: `
