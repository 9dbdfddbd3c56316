package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

func init() {
	register("token", "create a JWT for the server: token create --user NAME [--role R] [--ttl 24h]", cmdToken)
}

// roleFlags collects repeated --role values (and comma lists).
type roleFlags []string

func (r *roleFlags) String() string { return strings.Join(*r, ",") }
func (r *roleFlags) Set(s string) error {
	for _, role := range strings.Split(s, ",") {
		if role = strings.TrimSpace(role); role != "" {
			*r = append(*r, role)
		}
	}
	return nil
}

func cmdToken(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(env.stderr, "usage: grimoire token create --user NAME [--role analyst] [--ttl 24h] [--data DIR] [--init]")
		if len(args) > 0 && isHelpFlag(args[0]) {
			return cmdToken(ctx, env, []string{"create", "-h"})
		}
		return 2
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	user := fs.String("user", "", "the token's subject (required)")
	var roles roleFlags
	fs.Var(&roles, "role", "a role to grant, e.g. analyst or admin (repeatable)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	data := fs.String("data", "", "data `DIR` holding the server's generated secret (env GRIMOIRE_DATA, default ./data)")
	initSecret := fs.Bool("init", false, "generate the secret when the data directory has none yet (before the server's first start)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *user == "" {
		fmt.Fprintln(env.stderr, "grimoire token create: --user is required")
		return 2
	}
	load := auth.LoadSecret
	if *initSecret {
		load = auth.LoadOrCreateSecret
	}
	secret, err := load(dataDir(env, *data))
	if errors.Is(err, auth.ErrNoSecret) {
		err = fmt.Errorf("%w; or pass --init to generate one that the server started on this directory will use", err)
	}
	if err != nil {
		return fail(env, err)
	}
	tok, err := auth.Issue(secret, *user, roles, *ttl)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintln(env.stdout, tok)
	return 0
}
