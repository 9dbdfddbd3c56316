package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// Options configure a Pool. Zero fields take the defaults shown.
type Options struct {
	// Workers is how many activations run at once, each in its own
	// process; default the number of CPUs, at least 2.
	Workers int
	// WorkersPerUser is the most workers one user's activations hold
	// while another user is present: has activations running or waiting,
	// or had in the last 10 s (a lone user may use them all); default
	// Workers-1, at least 1. Waiting calls are
	// served user by user: the user with the fewest running first.
	WorkersPerUser int
	// MemoryBytes bounds one activation's heap, default 256 MiB.
	MemoryBytes uint64
	// JS bounds every call as jsvm does (timeouts, stack, sizes);
	// JS.MaxHeapGrowth is set to MemoryBytes. JS.Spares defaults to 2: a
	// worker makes the runtimes of its next activations while it waits.
	JS jsvm.Options
	// Command starts a worker: the program, then its arguments. Default:
	// this executable with the argument "sandbox" (grimoire's hidden
	// command); a test binary serves through ExitIfWorker whatever the
	// arguments.
	Command []string
	// Prewarm starts every worker in the background at New, so that the
	// first activations do not wait for a process to start.
	Prewarm bool
	// StartTimeout bounds a worker's start, default 10s.
	StartTimeout time.Duration
}

// ErrClosed is returned by a call on a closed pool, or one cut short by Close.
var ErrClosed = errors.New("the code sandbox is closed")

// Pool runs each call in a worker process (see the package doc). It is
// safe for concurrent use.
type Pool struct {
	opts    Options
	cfg     workerConfig
	checker *jsvm.Sandbox // compiles for CheckSyntax; never runs code

	// sched holds Workers tokens: an idle worker, or nil where a call
	// must start one. A call takes a token and gives one back; a worker
	// being replaced keeps its token until its replacement is up, so at
	// most Workers processes live.
	sched  *scheduler
	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex
	live map[*worker]struct{}
	wg   sync.WaitGroup // process waiters and background starts

	started, killed atomic.Int64
}

var (
	_ services.Sandbox        = (*Pool)(nil)
	_ services.SyntaxChecker  = (*Pool)(nil)
	_ services.TimeoutLimiter = (*Pool)(nil)
)

// New returns a pool. Unless opts.Prewarm is set, no process starts
// before the first call.
func New(opts Options) (*Pool, error) {
	// A worker never starts workers: a binary that lacks the worker entry
	// point (a test binary without ExitIfWorker) would otherwise start
	// copies of itself.
	if os.Getenv(workerEnv) != "" {
		return nil, fmt.Errorf("code sandbox: this process is a sandbox worker (%s is set); call sandbox.ExitIfWorker first thing in main or TestMain", workerEnv)
	}
	if opts.Workers <= 0 {
		opts.Workers = max(2, runtime.NumCPU())
	}
	if opts.WorkersPerUser <= 0 {
		opts.WorkersPerUser = max(1, opts.Workers-1)
	}
	if opts.MemoryBytes == 0 {
		opts.MemoryBytes = 256 << 20
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	opts.JS.MaxHeapGrowth = opts.MemoryBytes
	if opts.JS.Spares == 0 {
		opts.JS.Spares = 2
	}
	if len(opts.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("code sandbox: find this executable to start workers from: %w", err)
		}
		opts.Command = []string{exe, "sandbox"}
	}
	checker := jsvm.New(opts.JS)
	js := checker.Options()
	p := &Pool{
		opts: opts,
		cfg: workerConfig{JS: js, MemoryBytes: opts.MemoryBytes, MaxFrame: js.MaxSourceBytes + 2*js.MaxIOBytes + 1<<20,
			Nice: workerNiceness()},
		checker: checker,
		sched:   newScheduler(opts.WorkersPerUser),
		closed:  make(chan struct{}),
		live:    map[*worker]struct{}{},
	}
	for range opts.Workers {
		if opts.Prewarm {
			p.startInBackground()
		} else {
			p.sched.put(nil)
		}
	}
	return p, nil
}

// Stats counts the pool's worker processes.
type Stats struct {
	Started int64 // processes started
	Killed  int64 // processes killed or found dead (a limit, a crash, Close)
	Live    int   // processes running now
	Waiting int   // calls waiting for a worker
}

// Stats returns the counts so far.
func (p *Pool) Stats() Stats {
	waiting := p.sched.waitingCalls()
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Started: p.started.Load(), Killed: p.killed.Load(), Live: len(p.live), Waiting: waiting}
}

// MaxTimeout is the most time a call may ask for.
func (p *Pool) MaxTimeout() time.Duration { return p.cfg.JS.MaxTimeout }

// CheckSyntax compiles source in this process without running it.
func (p *Pool) CheckSyntax(source string) error { return p.checker.CheckSyntax(source) }

// Call runs call in a worker process. The errors are jsvm's; a worker
// that dies of its memory limit gives jsvm's memory error.
func (p *Pool) Call(ctx context.Context, call services.SandboxCall) (services.SandboxResult, error) {
	if err := ctx.Err(); err != nil {
		return services.SandboxResult{}, err
	}
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = p.cfg.JS.Timeout
	}
	timeout = min(timeout, p.cfg.JS.MaxTimeout)
	args := call.Args
	if args == nil {
		args = []any{}
	}
	argsJSON, err := json.Marshal(args)
	if err != nil {
		return services.SandboxResult{}, fmt.Errorf("arguments: %w", err)
	}
	body, err := json.Marshal(request{Source: call.Source, Function: call.Function, Args: argsJSON, Timeout: timeout})
	if err != nil {
		return services.SandboxResult{}, fmt.Errorf("arguments: %w", err)
	}
	if len(body) > p.cfg.MaxFrame {
		return services.SandboxResult{}, &services.LimitError{Err: services.ErrSandboxSize,
			Message: fmt.Sprintf("the call is %d bytes of JSON, more than the %d allowed", len(body), p.cfg.MaxFrame)}
	}

	w, ok := p.sched.take(ctx, call.User, p.closed)
	if !ok {
		select {
		case <-p.closed:
			return services.SandboxResult{}, ErrClosed
		default:
			return services.SandboxResult{}, ctx.Err()
		}
	}
	if w != nil && w.dead() {
		p.kill(w)
		w = nil
	}
	if w == nil {
		if w, err = p.start(); err != nil {
			p.sched.done(call.User, nil)
			return services.SandboxResult{}, err
		}
	}
	// jsvm in the worker answers by the deadline plus its grace; the pool
	// waits a grace more before it kills.
	rep, err := p.exchange(ctx, w, body, timeout+2*p.cfg.JS.Grace)
	if err != nil || rep.Retire {
		p.kill(w)
		p.sched.forget(call.User)
		p.startInBackground()
	} else {
		p.sched.done(call.User, w)
	}
	if err != nil {
		if errors.Is(err, services.ErrSandboxTimeout) {
			err = jsvm.TimeoutError(timeout)
		}
		return services.SandboxResult{}, err
	}
	if rep.Error != nil {
		return services.SandboxResult{}, rep.Error.decode()
	}
	return rep.Decode()
}

// exchange sends one request and waits for its reply until limit, the
// context, or the worker's death.
func (p *Pool) exchange(ctx context.Context, w *worker, body []byte, limit time.Duration) (reply, error) {
	got := make(chan frameResult, 1)
	go func() {
		if err := writeFrame(w.stdin, body); err != nil {
			got <- frameResult{err: err}
			return
		}
		b, err := readFrame(w.stdout, p.cfg.MaxFrame)
		got <- frameResult{b, err}
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var fr frameResult
	select {
	case fr = <-got:
	case <-timer.C:
		p.kill(w)
		<-got
		return reply{}, services.ErrSandboxTimeout
	case <-ctx.Done():
		p.kill(w)
		<-got
		return reply{}, ctx.Err()
	}
	if fr.err != nil {
		return reply{}, p.deathError(w)
	}
	var rep reply
	if err := json.Unmarshal(fr.body, &rep); err != nil {
		return reply{}, fmt.Errorf("code sandbox: decode the worker's reply: %w", err)
	}
	return rep, nil
}

type frameResult struct {
	body []byte
	err  error
}

// deathError says why a worker stopped answering.
func (p *Pool) deathError(w *worker) error {
	select {
	case <-w.exited:
	case <-time.After(p.opts.StartTimeout):
		p.kill(w)
		<-w.exited
	}
	select {
	case <-p.closed:
		return ErrClosed
	default:
	}
	state := w.cmd.ProcessState
	tail := w.stderr.String()
	if state != nil && state.ExitCode() == exitMemory || strings.Contains(tail, "out of memory") {
		return jsvm.MemoryError(p.opts.MemoryBytes)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("the code sandbox's worker process was killed (%s); the code may have used too much memory or CPU", ws.Signal())
	}
	return fmt.Errorf("the code sandbox's worker process died (%s): %s", state, lastLine(tail))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// worker is one sandbox process.
type worker struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *bufio.Reader
	stderr *tailBuffer
	exited chan struct{} // closed once the process has been waited for
}

// dead reports whether the process has exited (while idle: the kernel's
// OOM killer, RLIMIT_CPU).
func (w *worker) dead() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// start starts a worker and waits for its hello.
func (p *Pool) start() (*worker, error) {
	cmd := exec.Command(p.opts.Command[0], p.opts.Command[1:]...)
	cfg, err := json.Marshal(p.cfg)
	if err != nil {
		return nil, err
	}
	// A worker gets no secrets: only its configuration.
	cmd.Env = []string{workerEnv + "=" + string(cfg), "GOMAXPROCS=2"}
	for _, name := range []string{"GOCOVERDIR", "GORACE"} {
		if v, ok := os.LookupEnv(name); ok {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	cmd.SysProcAttr = workerProcAttr()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	w := &worker{cmd: cmd, stdin: inW, stdout: bufio.NewReader(outR), stderr: &tailBuffer{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, w.stderr

	p.mu.Lock()
	select {
	case <-p.closed:
		p.mu.Unlock()
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, ErrClosed
	default:
	}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		p.mu.Unlock()
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("code sandbox: start a worker (%s): %w", strings.Join(p.opts.Command, " "), err)
	}
	// The worker renices all its threads once it runs; this covers its
	// start-up (the runtime's and packages' initialisation), which is
	// most of a new worker's CPU.
	lowerChildPriority(cmd.Process.Pid, p.cfg.Nice)
	p.live[w] = struct{}{}
	p.started.Add(1)
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		cmd.Wait()
		inW.Close()
		outR.Close()
		close(w.exited)
	}()

	got := make(chan frameResult, 1)
	go func() {
		b, err := readFrame(w.stdout, 1<<10)
		got <- frameResult{b, err}
	}()
	timer := time.NewTimer(p.opts.StartTimeout)
	defer timer.Stop()
	select {
	case fr := <-got:
		var h hello
		if fr.err == nil {
			fr.err = json.Unmarshal(fr.body, &h)
		}
		if fr.err == nil {
			return w, nil
		}
		p.kill(w)
		<-w.exited
		select {
		case <-p.closed:
			return nil, ErrClosed
		default:
		}
		return nil, fmt.Errorf("code sandbox: worker %q did not start (%s): %s", strings.Join(p.opts.Command, " "), w.cmd.ProcessState, lastLine(w.stderr.String()))
	case <-timer.C:
		p.kill(w)
		<-got
		return nil, fmt.Errorf("code sandbox: worker %q did not start within %s", strings.Join(p.opts.Command, " "), p.opts.StartTimeout)
	}
}

// startInBackground starts a worker and puts it in a slot (nil if it
// failed: the next call starts one itself and reports the error), so that
// the next call does not wait for a process to start.
func (p *Pool) startInBackground() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		p.sched.put(nil)
		return
	default:
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		w, err := p.start()
		if err != nil {
			w = nil
		}
		p.sched.put(w)
	}()
}

// kill ends a worker's process (SIGKILL) and forgets it.
func (p *Pool) kill(w *worker) {
	p.mu.Lock()
	_, ok := p.live[w]
	delete(p.live, w)
	p.mu.Unlock()
	if ok {
		p.killed.Add(1)
		w.cmd.Process.Kill()
	}
}

// Close kills every worker, including those running a call (which return
// ErrClosed), and waits for the processes to be reaped. It does not wait
// for any script.
func (p *Pool) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		close(p.closed)
		workers := make([]*worker, 0, len(p.live))
		for w := range p.live {
			workers = append(workers, w)
		}
		p.mu.Unlock()
		for _, w := range workers {
			p.kill(w)
		}
		p.wg.Wait()
		p.checker.Close()
	})
	return nil
}

// tailBuffer keeps the last max bytes written to it: a worker's stderr,
// for the reason it died.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
