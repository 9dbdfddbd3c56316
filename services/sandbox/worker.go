package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// workerEnv names the environment variable that makes a process a sandbox
// worker; its value is the workerConfig as JSON.
const workerEnv = "GRIMOIRE_SANDBOX_WORKER"

// exitMemory is a worker's exit status when its memory guard stopped it.
const exitMemory = 3

// workerConfig is what the pool tells a worker at start.
type workerConfig struct {
	JS          jsvm.Options `json:"js"`
	MemoryBytes uint64       `json:"memory_bytes"`
	MaxFrame    int          `json:"max_frame"`
	Nice        int          `json:"nice"` // the worker's scheduling niceness
}

// ExitIfWorker makes a test binary usable as the pool's worker: when the
// pool started this process, it serves activations on stdin/stdout and
// exits; otherwise it returns at once. A package whose tests run a Pool
// calls it first thing in TestMain. The grimoire binary's hidden `sandbox`
// command calls WorkerMain instead.
func ExitIfWorker() {
	if os.Getenv(workerEnv) != "" {
		os.Exit(WorkerMain())
	}
}

// WorkerMain runs this process as one sandbox worker: it sets its own
// limits, then answers requests on stdin until stdin closes. It returns the
// exit status.
func WorkerMain() int {
	raw := os.Getenv(workerEnv)
	if raw == "" {
		fmt.Fprintln(os.Stderr, "grimoire sandbox: this command is started by the server's code sandbox pool, not by hand")
		return 2
	}
	var cfg workerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "grimoire sandbox: %s: %v\n", workerEnv, err)
		return 2
	}
	if err := serveWorker(cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "grimoire sandbox:", err)
		return 1
	}
	return 0
}

func serveWorker(cfg workerConfig, in io.Reader, out io.Writer) error {
	baseline := jsvm.HeapInUse()
	// The soft limit makes the collector work harder before the hard ones
	// are reached, so that the heap measured is mostly what is live.
	debug.SetMemoryLimit(int64(baseline + cfg.MemoryBytes + cfg.MemoryBytes/2))
	cpu, err := setProcessLimits(cfg)
	if err != nil {
		return fmt.Errorf("set limits: %w", err)
	}
	// A builtin that allocates in one uninterruptible native call (a
	// stringify or join of an exponential structure) cannot be stopped by
	// jsvm's interrupt; this guard runs beside it and ends the process.
	go guardMemory(baseline+cfg.MemoryBytes+cfg.MemoryBytes/4, cfg.JS.Tick)

	sb := jsvm.New(cfg.JS)
	// The first activations' runtimes are made before the hello.
	if err := sb.Prepare(); err != nil {
		return fmt.Errorf("prepare a runtime: %w", err)
	}
	w := bufio.NewWriter(out)
	send := func(v any) error {
		body, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := writeFrame(w, body); err != nil {
			return err
		}
		return w.Flush()
	}
	if err := send(hello{PID: os.Getpid()}); err != nil {
		return err
	}
	r := bufio.NewReader(in)
	for {
		body, err := readFrame(r, cfg.MaxFrame)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
		rep := activate(sb, body)
		// A call stopped at its memory limit leaves its heap behind (garbage
		// not yet swept, or a runtime still holding it): the next call,
		// another user's maybe, would be measured against it. Such a
		// worker is replaced, like one that cannot vouch for its runtimes.
		atMemoryLimit := rep.Error != nil && rep.Error.Kind == "limit" && rep.Error.Limit == "memory"
		rep.Retire = rep.Retire || atMemoryLimit || !sb.Settled(50*time.Millisecond) || cpu.spent()
		if err := send(rep); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
		// The next activation's runtime is made while this worker waits
		// for it, not while the reply is on its way.
		sb.Refill()
	}
}

func activate(sb *jsvm.Sandbox, body []byte) reply {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return reply{Error: &wireError{Kind: "other", Message: "decode request: " + err.Error()}, Retire: true}
	}
	res, err := sb.CallJSON(context.Background(), services.SandboxCall{
		Source: req.Source, Function: req.Function, Timeout: req.Timeout}, req.Args)
	if err != nil {
		return reply{Error: encodeError(err)}
	}
	return reply{JSONResult: res}
}

// guardMemory ends the process once its heap passes limit bytes.
func guardMemory(limit uint64, tick time.Duration) {
	if tick <= 0 {
		tick = 5 * time.Millisecond
	}
	for range time.Tick(tick) {
		if jsvm.HeapInUse() > limit {
			fmt.Fprintln(os.Stderr, "grimoire sandbox: memory limit reached")
			os.Exit(exitMemory)
		}
	}
}
