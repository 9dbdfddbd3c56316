package jsvm

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/grimoire-run/grimoire/services"
)

// Options bound every call. Zero fields take the defaults shown.
type Options struct {
	Timeout         time.Duration // per call, default 1s
	MaxTimeout      time.Duration // the most a call may ask for, default 30s (longer asks are cut to it)
	Grace           time.Duration // how long past the deadline Call waits for a stuck native call, default 250ms
	Tick            time.Duration // watchdog sampling period, default 5ms
	MaxCallStack    int           // JS call depth, default 1024
	MaxHeapGrowth   uint64        // growth of the heap in use during one call, default 256 MiB
	MaxArrayLength  int64         // default 4,194,304 elements
	MaxStringLength int64         // default 16,777,216 UTF-16 units
	MaxSourceBytes  int           // default 1 MiB
	MaxIOBytes      int           // JSON size of arguments and of the result, default 16 MiB
	ProgramCache    int           // compiled programs kept, default 256
	// Spares is how many pristine runtimes (guards installed, no script
	// run) are kept ready so that a call does not pay for making one;
	// they are made in the background after a call (after Call, or when
	// the caller of CallJSON calls Refill). Default 0: each call makes its
	// own.
	Spares int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.MaxTimeout <= 0 {
		o.MaxTimeout = 30 * time.Second
	}
	o.Timeout = min(o.Timeout, o.MaxTimeout)
	if o.Grace <= 0 {
		o.Grace = 250 * time.Millisecond
	}
	if o.Tick <= 0 {
		o.Tick = 5 * time.Millisecond
	}
	if o.MaxCallStack <= 0 {
		o.MaxCallStack = 1024
	}
	if o.MaxHeapGrowth == 0 {
		o.MaxHeapGrowth = 256 << 20
	}
	if o.MaxArrayLength <= 0 {
		o.MaxArrayLength = 4 << 20
	}
	if o.MaxStringLength <= 0 {
		o.MaxStringLength = 16 << 20
	}
	if o.MaxSourceBytes <= 0 {
		o.MaxSourceBytes = 1 << 20
	}
	if o.MaxIOBytes <= 0 {
		o.MaxIOBytes = 16 << 20
	}
	if o.ProgramCache <= 0 {
		o.ProgramCache = 256
	}
	o.Spares = max(o.Spares, 0)
	return o
}

// Sandbox runs JavaScript calls, each in a fresh runtime. It is safe for
// concurrent use. Close waits for calls abandoned past their deadline.
type Sandbox struct {
	opts  Options
	cache programCache
	wg    sync.WaitGroup // calls' runtimes and watchdogs, abandoned ones included

	// spares holds up to Options.Spares runtimes never used by a call;
	// refilling is closed when the background refill under way ends (nil
	// when none is).
	spares    chan *jsRuntime
	mu        sync.Mutex
	refilling chan struct{}
	refills   sync.WaitGroup
	closed    bool
}

var _ services.Sandbox = (*Sandbox)(nil)

// New returns a sandbox with the given bounds.
func New(opts Options) *Sandbox {
	o := opts.withDefaults()
	return &Sandbox{opts: o, cache: programCache{max: o.ProgramCache, items: map[[32]byte]*list.Element{}, order: list.New()},
		spares: make(chan *jsRuntime, o.Spares)}
}

// Close stops making spare runtimes and waits until every runtime
// abandoned by a timed-out call has stopped.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.refills.Wait()
	s.wg.Wait()
	return nil
}

// Settled reports whether every runtime of a call has stopped within wait:
// a call that timed out in an uninterruptible builtin leaves one running.
func (s *Sandbox) Settled(wait time.Duration) bool {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// Prepare fills the spare runtimes (Options.Spares) now, so that the
// first calls do not make their own.
func (s *Sandbox) Prepare() error {
	for len(s.spares) < cap(s.spares) {
		rt, err := s.newRuntime()
		if err != nil {
			return err
		}
		select {
		case s.spares <- rt:
		default:
			return nil
		}
	}
	return nil
}

// jsRuntime is a goja runtime made for one call: guards installed, and
// JSON's functions captured before any script could replace them.
type jsRuntime struct {
	vm               *goja.Runtime
	parse, stringify goja.Callable
}

func (s *Sandbox) newRuntime() (*jsRuntime, error) {
	vm := goja.New()
	vm.SetMaxCallStackSize(s.opts.MaxCallStack)
	jsonObj := vm.Get("JSON").ToObject(vm)
	parse, _ := goja.AssertFunction(jsonObj.Get("parse"))
	stringify, _ := goja.AssertFunction(jsonObj.Get("stringify"))
	if err := s.installGuards(vm); err != nil {
		return nil, fmt.Errorf("install sandbox guards: %w", err)
	}
	return &jsRuntime{vm: vm, parse: parse, stringify: stringify}, nil
}

// takeRuntime returns a spare runtime, or the one being made (it is
// sooner done than a new one), or a new one. A runtime serves one call
// only: isolation between calls is a runtime no script has touched.
func (s *Sandbox) takeRuntime() (*jsRuntime, error) {
	for {
		select {
		case rt := <-s.spares:
			return rt, nil
		default:
		}
		s.mu.Lock()
		refilling := s.refilling
		s.mu.Unlock()
		if refilling == nil {
			return s.newRuntime()
		}
		select {
		case rt := <-s.spares:
			return rt, nil
		case <-refilling:
		}
	}
}

// Refill makes spare runtimes (Options.Spares) in the background, one
// goroutine at a time; Close waits for it.
func (s *Sandbox) Refill() {
	if len(s.spares) == cap(s.spares) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.refilling != nil {
		return
	}
	done := make(chan struct{})
	s.refilling = done
	s.refills.Add(1)
	go func() {
		defer s.refills.Done()
		s.Prepare()
		s.mu.Lock()
		s.refilling = nil
		s.mu.Unlock()
		close(done)
	}()
}

var _ services.SyntaxChecker = (*Sandbox)(nil)

// MaxTimeout is the most time a call may ask for.
func (s *Sandbox) MaxTimeout() time.Duration { return s.opts.MaxTimeout }

var _ services.TimeoutLimiter = (*Sandbox)(nil)

// CheckSyntax compiles source without running it. The program is cached, so
// a call with the same source does not compile it again.
func (s *Sandbox) CheckSyntax(source string) error {
	if len(source) > s.opts.MaxSourceBytes {
		return &services.LimitError{Err: services.ErrSandboxSize,
			Message: fmt.Sprintf("source is %d bytes, more than the %d allowed", len(source), s.opts.MaxSourceBytes)}
	}
	_, err := s.cache.compile(source)
	return err
}

// Options returns the bounds in force (defaults applied).
func (s *Sandbox) Options() Options { return s.opts }

// Call runs call.Source in a fresh runtime, then calls call.Function with
// call.Args.
func (s *Sandbox) Call(ctx context.Context, call services.SandboxCall) (services.SandboxResult, error) {
	if err := ctx.Err(); err != nil {
		return services.SandboxResult{}, err
	}
	args := call.Args
	if args == nil {
		args = []any{}
	}
	argsJSON, err := json.Marshal(args)
	if err != nil {
		return services.SandboxResult{}, fmt.Errorf("arguments: %w", err)
	}
	raw, err := s.CallJSON(ctx, call, argsJSON)
	s.Refill()
	if err != nil {
		return services.SandboxResult{}, err
	}
	return raw.Decode()
}

// JSONResult is a call's result as JSON text: nil where the value is
// undefined or null (or, for Value, a function or symbol).
type JSONResult struct {
	Value json.RawMessage `json:"value,omitempty"`
	Args  json.RawMessage `json:"args,omitempty"`
}

// Decode turns the JSON text into JSON-like values, as Call returns them.
func (r JSONResult) Decode() (services.SandboxResult, error) {
	var res services.SandboxResult
	if len(r.Value) > 0 {
		if err := json.Unmarshal(r.Value, &res.Value); err != nil {
			return services.SandboxResult{}, fmt.Errorf("decode result: %w", err)
		}
	}
	if len(r.Args) > 0 {
		var back any
		if err := json.Unmarshal(r.Args, &back); err != nil {
			return services.SandboxResult{}, fmt.Errorf("decode arguments: %w", err)
		}
		res.Args, _ = back.([]any)
	}
	return res, nil
}

// CallJSON is Call with the arguments given as JSON text (a JSON array;
// call.Args is ignored) and the result returned as JSON text, so that a
// caller that holds JSON already (a sandbox worker) converts nothing.
// Unlike Call it leaves making spare runtimes to the caller (Refill), who
// knows when it has nothing better to do.
func (s *Sandbox) CallJSON(ctx context.Context, call services.SandboxCall, argsJSON []byte) (JSONResult, error) {
	if err := ctx.Err(); err != nil {
		return JSONResult{}, err
	}
	if len(call.Source) > s.opts.MaxSourceBytes {
		return JSONResult{}, &services.LimitError{Err: services.ErrSandboxSize,
			Message: fmt.Sprintf("source is %d bytes, more than the %d allowed", len(call.Source), s.opts.MaxSourceBytes)}
	}
	fn := call.Function
	if fn == "" {
		fn = "worker"
	}
	if len(argsJSON) > s.opts.MaxIOBytes {
		return JSONResult{}, &services.LimitError{Err: services.ErrSandboxSize,
			Message: fmt.Sprintf("arguments are %d bytes of JSON, more than the %d allowed", len(argsJSON), s.opts.MaxIOBytes)}
	}
	prog, err := s.cache.compile(call.Source)
	if err != nil {
		return JSONResult{}, err
	}
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = s.opts.Timeout
	}
	timeout = min(timeout, s.opts.MaxTimeout)
	timeoutErr := TimeoutError(timeout)

	rt, err := s.takeRuntime()
	if err != nil {
		return JSONResult{}, err
	}
	type outcome struct {
		res JSONResult
		err error
	}
	done := make(chan outcome, 1)
	started := make(chan time.Time, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res, err := s.run(ctx, rt, prog, fn, string(argsJSON), timeout, timeoutErr, started)
		done <- outcome{res, err}
	}()

	// Wait for the runtime, but never much past the deadline: a native call
	// that ignores Interrupt is abandoned (see the package doc). The clock
	// starts when the script does.
	var hard <-chan time.Time
	for {
		select {
		case o := <-done:
			return o.res, o.err
		case t0 := <-started:
			timer := time.NewTimer(time.Until(t0.Add(timeout)) + s.opts.Grace)
			defer timer.Stop()
			hard = timer.C
		case <-hard:
			return JSONResult{}, timeoutErr
		case <-ctx.Done():
			rt.vm.Interrupt(ctx.Err())
			select {
			case o := <-done:
				if o.err == nil {
					return o.res, nil
				}
				return JSONResult{}, ctx.Err()
			case <-time.After(s.opts.Grace):
				return JSONResult{}, ctx.Err()
			}
		}
	}
}

// TimeoutError is the error of a call that ran past its time limit.
func TimeoutError(limit time.Duration) *services.LimitError {
	return &services.LimitError{Err: services.ErrSandboxTimeout, Message: fmt.Sprintf("exceeded its %s time limit", limit)}
}

// MemoryError is the error of a call whose heap grew past maxGrowth bytes.
func MemoryError(maxGrowth uint64) *services.LimitError {
	return &services.LimitError{Err: services.ErrSandboxMemory,
		Message: fmt.Sprintf("exceeded its memory limit (its heap grew by more than %d MiB)", maxGrowth>>20)}
}

func (s *Sandbox) watch(ctx context.Context, vm *goja.Runtime, deadline time.Time, timeoutErr error, stop <-chan struct{}) {
	start := HeapInUse()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	tick := time.NewTicker(s.opts.Tick)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			vm.Interrupt(ctx.Err())
			return
		case <-timer.C:
			vm.Interrupt(timeoutErr)
			return
		case <-tick.C:
			if now := HeapInUse(); now > start && now-start > s.opts.MaxHeapGrowth {
				vm.Interrupt(MemoryError(s.opts.MaxHeapGrowth))
				return
			}
		}
	}
}

// heapSample is the memory occupied by heap objects, live or not yet
// swept: garbage a script drops is collected and does not count; what it
// keeps does.
var heapSample = "/memory/classes/heap/objects:bytes"

// HeapInUse is the process's heap in use, as the memory bound measures it.
func HeapInUse() uint64 {
	s := [1]metrics.Sample{{Name: heapSample}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// run executes one call inside rt. It runs on its own goroutine.
func (s *Sandbox) run(ctx context.Context, rt *jsRuntime, prog *goja.Program, fn, argsJSON string,
	timeout time.Duration, timeoutErr error, started chan<- time.Time) (res JSONResult, err error) {
	vm := rt.vm
	t0 := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch(ctx, vm, t0.Add(timeout), timeoutErr, stop)
	}()
	started <- t0
	if _, err := vm.RunProgram(prog); err != nil {
		return res, s.mapError(err)
	}
	f, ok := goja.AssertFunction(vm.Get(fn))
	if !ok {
		return res, &services.ScriptError{Name: "ReferenceError", Message: fmt.Sprintf("the code must define a function named %s", fn)}
	}
	argv, err := rt.parse(goja.Undefined(), vm.ToValue(argsJSON))
	if err != nil {
		return res, s.mapError(err)
	}
	argObj := argv.ToObject(vm)
	n := int(argObj.Get("length").ToInteger())
	callArgs := make([]goja.Value, n)
	for i := range callArgs {
		callArgs[i] = argObj.Get(strconv.Itoa(i))
	}
	ret, err := f(goja.Undefined(), callArgs...)
	if err != nil {
		return res, s.mapError(err)
	}
	if p, ok := ret.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			ret = p.Result()
		case goja.PromiseStateRejected:
			return res, scriptErrorFromValue(p.Result(), nil)
		default:
			return res, &services.ScriptError{Name: "Error", Message: fmt.Sprintf("%s returned a promise that never settled (the sandbox has no timers or I/O)", fn)}
		}
	}
	if res.Value, err = s.export(rt, ret, "result"); err != nil {
		return JSONResult{}, err
	}
	if res.Args, err = s.export(rt, argObj, "arguments"); err != nil {
		return JSONResult{}, err
	}
	return res, nil
}

// export returns v as JSON text, nil for undefined, null, a function or a
// symbol.
func (s *Sandbox) export(rt *jsRuntime, v goja.Value, what string) (json.RawMessage, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, nil
	}
	js, err := rt.stringify(goja.Undefined(), v)
	if err != nil {
		return nil, s.mapError(err)
	}
	if goja.IsUndefined(js) { // a function or symbol
		return nil, nil
	}
	text := js.String()
	if len(text) > s.opts.MaxIOBytes {
		return nil, &services.LimitError{Err: services.ErrSandboxSize,
			Message: fmt.Sprintf("%s is %d bytes of JSON, more than the %d allowed", what, len(text), s.opts.MaxIOBytes)}
	}
	if text == "null" {
		return nil, nil
	}
	return json.RawMessage(text), nil
}

// mapError turns goja's errors into the sandbox's.
func (s *Sandbox) mapError(err error) error {
	var le *services.LimitError
	if errors.As(err, &le) { // raised by a guard
		return le
	}
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		if e, ok := intr.Value().(error); ok {
			return e
		}
		return fmt.Errorf("interrupted: %v", intr.Value())
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return &services.LimitError{Err: services.ErrSandboxStack,
			Message: fmt.Sprintf("exceeded its call stack limit of %d frames (runaway recursion?)", s.opts.MaxCallStack)}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return scriptErrorFromValue(ex.Value(), ex.Stack())
	}
	return err
}

func scriptErrorFromValue(v goja.Value, stack []goja.StackFrame) error {
	se := &services.ScriptError{}
	if obj, ok := v.(*goja.Object); ok {
		if name := obj.Get("name"); name != nil && !goja.IsUndefined(name) {
			se.Name = name.String()
		}
		if msg := obj.Get("message"); msg != nil && !goja.IsUndefined(msg) {
			se.Message = msg.String()
		} else {
			se.Message = obj.String()
		}
		if g, ok := obj.Export().(error); ok && se.Message == "" {
			se.Message = g.Error()
		}
	} else if v != nil {
		se.Message = v.String()
		se.Name = "Uncaught"
	}
	for _, f := range stack {
		if p := f.Position(); p.Line > 0 {
			se.Line, se.Column = p.Line, p.Column
			break
		}
	}
	return se
}

// programCache keeps compiled programs, least recently used evicted first.
type programCache struct {
	mu    sync.Mutex
	max   int
	items map[[32]byte]*list.Element
	order *list.List
}

type cached struct {
	key  [32]byte
	prog *goja.Program
}

func (c *programCache) compile(src string) (*goja.Program, error) {
	key := sha256.Sum256([]byte(src))
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		p := el.Value.(*cached).prog
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()

	ast, err := parser.ParseFile(nil, "code", src, 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			first := list[0]
			return nil, &services.ScriptError{Name: "SyntaxError", Message: first.Message,
				Line: first.Position.Line, Column: first.Position.Column}
		}
		return nil, &services.ScriptError{Name: "SyntaxError", Message: strings.TrimSpace(err.Error())}
	}
	prog, err := goja.CompileAST(ast, false)
	if err != nil {
		var ce *goja.CompilerSyntaxError
		if errors.As(err, &ce) {
			se := &services.ScriptError{Name: "SyntaxError", Message: ce.Message}
			if ce.File != nil {
				p := ce.File.Position(ce.Offset)
				se.Line, se.Column = p.Line, p.Column
			}
			return nil, se
		}
		return nil, &services.ScriptError{Name: "SyntaxError", Message: err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		return el.Value.(*cached).prog, nil
	}
	c.items[key] = c.order.PushFront(&cached{key: key, prog: prog})
	for c.order.Len() > c.max {
		el := c.order.Back()
		c.order.Remove(el)
		delete(c.items, el.Value.(*cached).key)
	}
	return prog, nil
}
