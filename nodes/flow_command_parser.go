package nodes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Command Parser", newCommandParser) }

// Command Parser (Magick flow/CommandParser.ts) splits chat text such as
// "/roll 2 d6" into a command and its arguments. As in Magick: the text is a
// command when it starts with the command starter (data.commandStarter,
// default "/"); the command is the first space-separated word without its
// first character (one character is dropped whatever the starter's length,
// as Magick's substring(1) does), the arguments the words after it; with
// data.useCheckList (default false, as the worker reads it) isCommand is
// true only when the command list input contains the command. Text that
// does not start with the starter yields "", [] and false. Magick threw a
// TypeError when the text or, with the check list on, the list was missing;
// here those fail with an error that says which.
func newCommandParser(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Command Parser",
		Family: "flow",
		Doc:    "Parses \"/command arg …\" text into command, args and isCommand (optionally checked against a list).",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("command", "string", "the text to parse"),
			dataIn("commandList", "array", "the commands accepted when useCheckList is on"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("command", "string", "the command word, without its starter"),
			dataOut("args", "array", "the words after the command"),
			dataOut("isCommand", "boolean", "whether the text is a command (and, with the check list, a listed one)"),
		},
		Config: []graph.ConfigField{
			{Name: "useCheckList", Type: "boolean", Default: false, Doc: "accept only commands in the commandList input"},
			{Name: "commandStarter", Type: "string", Default: "/", Doc: "what a command starts with"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			useList := false
			if v, ok := n.Config["useCheckList"]; ok && v != nil {
				b, isBool := v.(bool)
				if !isBool {
					return nil, fmt.Errorf(`config "useCheckList": want true or false, got %T`, v)
				}
				useList = b
			}
			starter := "/"
			if v, ok := n.Config["commandStarter"]; ok && v != nil {
				s, isStr := v.(string)
				if !isStr {
					return nil, fmt.Errorf(`config "commandStarter": want text, got %T`, v)
				}
				starter = s
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("command")
				if !ok || v == nil {
					return graph.Result{}, errors.New(`input "command" has no value; connect the text to parse`)
				}
				input, ok := v.(string)
				if !ok {
					return graph.Result{}, fmt.Errorf(`input "command": want text, got %T`, v)
				}
				var list []string
				if useList {
					lv, _ := a.Input("commandList")
					items, ok := lv.([]any)
					if !ok {
						return graph.Result{}, fmt.Errorf(`input "commandList": useCheckList is on, so connect an array of commands (got %T)`, lv)
					}
					for _, it := range items {
						if s, ok := it.(string); ok {
							list = append(list, s)
						}
					}
				}
				command, args, isCommand := parseCommand(input, starter, useList, list)
				return graph.Result{Outputs: graph.Outputs{"command": command, "args": args, "isCommand": isCommand}}, nil
			}), nil
		},
	}
}

// parseCommand is Magick's parseCommand.
func parseCommand(input, starter string, useList bool, list []string) (string, []any, bool) {
	if !strings.HasPrefix(input, starter) {
		return "", []any{}, false
	}
	words := strings.Split(input, " ")
	command := jsSubstringFrom1(words[0])
	args := make([]any, 0, len(words)-1)
	for _, w := range words[1:] {
		args = append(args, w)
	}
	if useList {
		return command, args, slices.Contains(list, command)
	}
	return command, args, true
}

// jsSubstringFrom1 is JavaScript's s.substring(1): it drops the first UTF-16
// code unit, which for text outside the astral planes is the first rune.
func jsSubstringFrom1(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return ""
	}
	return string(r[1:])
}
