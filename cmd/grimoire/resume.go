package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
)

func init() {
	register("resume", "continue the runs a stopped process left unfinished", cmdResume)
}

// cmdResume takes over every run of the data directory that has no
// terminal event (the process running it was killed), replays what those
// runs had recorded, executes only what had not completed, and prints each
// run's outcome as one JSON line. `grimoire serve` does the same at start.
func cmdResume(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("resume", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	data := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *data, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	resumed, resumeErr := rt.Executor.Resume(ctx)
	if len(resumed) == 0 && resumeErr == nil {
		fmt.Fprintln(env.stderr, "no unfinished runs to resume (a run waiting for an answer stays waiting: grimoire answer)")
		return 0
	}
	code := 0
	enc := json.NewEncoder(env.stdout)
	for _, r := range resumed {
		out, err := r.Wait(context.WithoutCancel(ctx))
		if err != nil {
			return fail(env, err)
		}
		line := map[string]any{"runId": out.RunID, "status": out.Status, "outputs": nonNilMap(out.Outputs)}
		if err := outcomeError(out); err != nil {
			line["error"] = err.Error()
			code = 1
		}
		enc.Encode(line)
	}
	if resumeErr != nil {
		fmt.Fprintln(env.stderr, "grimoire: some runs could not be resumed:", resumeErr)
		code = 1
	}
	return code
}
