package nodes

import "github.com/grimoire-run/grimoire/graph"

// Tense Transformer: Thoth's
// packages/core/src/components/deprecated/TenseTransformer.ts. The
// original asks for model "vanilla-davinci"; Grimoire uses the node's
// model, else the server's default, since that name exists on few servers
// (set model "vanilla-davinci" and a server model alias to keep it).
func init() {
	Register("Tense Transformer", thothFewshotType(thothFewshotSpec{
		name: "Tense Transformer",
		doc:  "Thoth's tense transformer: has the model rewrite \"name: text\" in the third person present tense.",
		inputs: []graph.Port{
			dataIn("text", "string", "the player's text"),
			dataIn("name", "string", "the player's name"),
		},
		outputs:      []graph.Port{dataOut("action", "string", "the rewritten statement (trimmed)")},
		fewshot:      thothTenseFewshot,
		fewshotField: true,
		stop:         []string{"\n"},
		maxTokens:    100,
		prompt: func(fewshot string, in map[string]string) string {
			return fewshot + in["name"] + ": " + in["text"] + "\nThird Person:"
		},
		parse: func(completion string) graph.Outputs {
			return graph.Outputs{"action": thothTrim(completion)}
		},
	}))
}

const thothTenseFewshot = `Change each statement to be in the third person present tense and correct all grammar.

Matt: am sleepy.
Third Person: Matt is sleepy.
---
Matt: bllogha bloghs.
Third Person: Matt makes nonsensical sounds.
--
Jackson: tell the king that you won't help him.
Third Person: Jackson tells the king that he won't help him.
---
Jill: can I have a mug of ale?
Third Person: Jill says, "Can I have a mug of ale?"
---
Sam: say i'd be happy to help you
Third Person: Sam says, "I'd be happy to help you."
---
Cogsworth: draw my sword of light and slice myself in the forehead.
Third Person: Cogsworth draws his sword of light and slices himself in the forehead.
---
Jon: say but you said I could have it. Please?
Third Person: Jon says, "But you said I could have it. Please?"
---
Eliza: ask my friend where he's going
Third Person: Eliza asks her friend where he's going.
---
Aaron: am sleepy.
Third Person: Aaron is sleepy.
---
Robert: say I think I can resist it if you give me potion of Mind Shield. Do u have one?
Third Person: Robert says, "I think I can resist it if you give me a potion of Mind Shield. Do you have one?"
---
Jack: go talk to the knight
Third Person: Jack goes to talk to the knight
---
Jack: say What are you doing?!
Third Person: Jack says, "What are you doing?!"
---
James: I'm confident that I can kill the dragon!
Third Person: James says, "I'm confident that I can kill the dragon!"
---
Erica: want to go to the store but trip over my own shoes.
Third Person: Erica wants to go to the store but she trips over her own shoes.
---
Tom: told her that it was over.
Third Person: Tom told her that it was over.
---
Fred: ask what time is it?
Third Person: Fred asks, "What time is it?"
---
James: okay!
Third Person: James says, "Okay!"
--
Fred: command the mercenaries to attack the dragon while you rescue the princess.
Third Person: Fred commands the mercenaries to attack the dragon while he rescues the princess.
---
`
