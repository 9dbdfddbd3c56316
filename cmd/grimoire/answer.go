package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/grimoire-run/grimoire/server/runs"
)

func init() {
	register("answer", "answer the question a waiting run asks (an Ask node), and let it continue", cmdAnswer)
}

// cmdAnswer records an answer to a run of the data directory that waits
// (grimoire answer RUN_ID NODE_ID VALUE, VALUE being JSON), runs it on to
// its end or its next question, and prints its outcome as one JSON line.
func cmdAnswer(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("answer", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	data := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	user := fs.String("user", "", "answer as `USER` (default: the operator, who answers runs of the CLI)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 3 {
		fmt.Fprintln(env.stderr, "usage: grimoire answer [--user USER] RUN_ID NODE_ID VALUE   (VALUE is JSON: true, '\"text\"', '{\"approved\":true}')")
		return 2
	}
	var value any
	if err := json.Unmarshal([]byte(fs.Arg(2)), &value); err != nil {
		return fail(env, fmt.Errorf("VALUE %q is not JSON (quote a string: '\"yes\"'): %w", fs.Arg(2), err))
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *data, NoProjections: true})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()
	ans, err := rt.Executor.Answer(ctx, runs.Answer{RunID: fs.Arg(0), NodeID: fs.Arg(1), Value: value, User: *user})
	if err != nil {
		return fail(env, err)
	}
	if ans.Run == nil {
		fmt.Fprintf(env.stderr, "answer recorded (seq %d); the run was resumed elsewhere\n", ans.Seq)
		return 0
	}
	out, err := ans.Run.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fail(env, err)
	}
	line := map[string]any{"runId": out.RunID, "status": out.Status, "outputs": nonNilMap(out.Outputs)}
	code := 0
	if out.Status != runs.StatusWaiting {
		if err := outcomeError(out); err != nil {
			line["error"] = err.Error()
			code = 1
		}
	}
	json.NewEncoder(env.stdout).Encode(line)
	return code
}
