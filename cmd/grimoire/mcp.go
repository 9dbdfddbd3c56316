package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/auth"
)

func init() {
	register("mcp", "serve spells as MCP tools on stdin/stdout (for desktop agents that start a process)", cmdMCP)
}

// mcpTokenTTL is how long a token minted for `grimoire mcp` lives: an agent
// keeps the process for a whole session.
const mcpTokenTTL = 24 * time.Hour

// operator is who `grimoire mcp` acts as on the data directory: the
// operator, as `grimoire run` (runs recorded with no user), with every
// spell of the directory.
var operator = auth.Identity{Roles: []string{"admin"}}

func cmdMCP(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dataFlag := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data) when no server is used")
	rf := remoteFlags{tokenTTL: mcpTokenTTL}
	rf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, `usage: grimoire mcp [--server URL --token JWT] [--data DIR]

Speaks the Model Context Protocol on stdin/stdout (newline-delimited
JSON-RPC): the spells are its tools, with list_spells, get_run and
search_knowledge. With --server (or GRIMOIRE_URL), or a server running on
the data directory, it passes everything to that server's /mcp as the
token's user (GRIMOIRE_TOKEN); otherwise it opens the data directory and
serves every spell there itself, as the operator. Logs go to stderr.

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		return usageError(env, fs, "mcp takes no arguments, got %q", fs.Args())
	}
	in := io.NopCloser(strings.NewReader(""))
	if env.stdin != nil {
		in = io.NopCloser(env.stdin)
	}
	out := nopWriteCloser{env.stdout}

	remote, err := rf.connect(ctx, env, *dataFlag)
	if err != nil {
		return fail(env, err)
	}
	if remote != nil {
		if err := server.ProxyMCP(ctx, remote.url, remote.token, in, out); err != nil {
			return fail(env, err)
		}
		return 0
	}

	log := stderrLogger(env, logLevel(env.getenv(envLogLevel)))
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *dataFlag, Logger: log})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	// The tools are the spells read model's: it has read the log up to
	// now before the first client lists them.
	if err := rt.Projections.CaughtUp(ctx, rt.Spells.Name()); err != nil {
		return fail(env, err)
	}
	verifier, err := newVerifier(env, rt.DataDir)
	if err != nil {
		return fail(env, err)
	}
	srv, err := server.New(server.Options{
		Store: rt.Store, Bus: rt.Bus, Library: rt.Library, Spells: rt.Spells,
		Executor: rt.Executor, Runner: rt.Runner, Verifier: verifier, Logger: log,
		Knowledge: &rt.Services,
	})
	if err != nil {
		return fail(env, err)
	}
	defer srv.Close()
	if err := srv.ServeMCP(ctx, operator, in, out); err != nil {
		return fail(env, err)
	}
	return 0
}

// nopWriteCloser keeps the command's stdout open when the MCP connection
// closes.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
