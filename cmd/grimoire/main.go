// Command grimoire runs, validates, serves and inspects spells.
//
//	grimoire serve                      start the Socket.IO + REST server
//	grimoire run SPELL.json             run a spell locally, print its outputs
//	grimoire validate SPELL.json        check a spell, print every problem
//	grimoire nodes [--json]             list node types
//	grimoire token create --user NAME   print a JWT for the server
//	grimoire replay RUN_ID              print a recorded run's timeline
//	grimoire events tail                follow the global event log
//	grimoire projections status|rebuild read models
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) int
	hidden  bool // internal: not listed in the usage
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, env *cliEnv, args []string) int) {
	commands[name] = command{summary: summary, run: run}
}

// registerInternal adds a command that grimoire runs itself and the usage
// does not list.
func registerInternal(name string, run func(ctx context.Context, env *cliEnv, args []string) int) {
	commands[name] = command{run: run, hidden: true}
}

// cliEnv is what every subcommand writes to; tests substitute buffers.
type cliEnv struct {
	// stdin is what `grimoire mcp` reads its client's messages from (nil:
	// nothing).
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCLI(ctx, &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func runCLI(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	if isHelpFlag(args[0]) || (args[0] == "help" && len(args) == 1) {
		usage(env.stdout)
		return 0
	}
	if args[0] == "help" {
		return commandHelp(ctx, env, args[1], args[2:])
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "grimoire: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if isHelpFlag(a) {
			return commandHelp(ctx, env, args[0], args[1:])
		}
	}
	return cmd.run(ctx, env, args[1:])
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// commandHelp prints a command's help (its usage and every flag) on
// stdout and exits 0, for `grimoire help CMD` and `grimoire CMD --help`.
// Subcommands before the flag keep theirs: `events tail -h`.
func commandHelp(ctx context.Context, env *cliEnv, name string, args []string) int {
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "grimoire help: unknown command %q\n\n", name)
		usage(env.stderr)
		return 2
	}
	var sub []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		sub = append(sub, a)
	}
	help := *env
	help.stderr = env.stdout
	if code := cmd.run(ctx, &help, append(sub, "-h")); code != 2 && code != 0 {
		return code
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: grimoire COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'grimoire COMMAND -h' for a command's flags.")
}

// fail prints an error the way every subcommand does and returns exit code 1.
func fail(env *cliEnv, err error) int {
	var exit *exitError
	if errors.As(err, &exit) {
		fmt.Fprintln(env.stderr, "grimoire:", exit.err)
		return exit.code
	}
	// The Go SDK's errors start with "grimoire: " too.
	fmt.Fprintln(env.stderr, "grimoire:", strings.TrimPrefix(err.Error(), "grimoire: "))
	return 1
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// usageError says what was wrong with the command line, then prints the
// command's usage, and returns exit code 2.
func usageError(env *cliEnv, fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(env.stderr, "grimoire %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return 2
}
