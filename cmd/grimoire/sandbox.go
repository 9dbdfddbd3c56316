package main

import (
	"context"

	"github.com/grimoire-run/grimoire/services/sandbox"
)

// The code sandbox's pool starts this binary as `grimoire sandbox` for
// each worker process (services/sandbox); it is not for use by hand.
func init() { registerInternal("sandbox", cmdSandbox) }

func cmdSandbox(context.Context, *cliEnv, []string) int { return sandbox.WorkerMain() }
