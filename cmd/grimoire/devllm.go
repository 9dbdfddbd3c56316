package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/fromenv"
	"github.com/grimoire-run/grimoire/services/openai"
)

func init() {
	register("dev-llm", "serve a development stand-in for an OpenAI-compatible model (echo answers, no GPU)", cmdDevLLM)
}

// devLLMModel is the model name the stand-in reports.
const devLLMModel = "grimoire-dev-echo"

// devLLMFlags are the stand-in's settings, shared by dev-llm and by the
// --dev-llm switch of serve and run.
type devLLMFlags struct {
	rate        float64
	reply       string
	model       string
	dimensions  int
	fault       string
	faultCount  int
	faultTarget string
}

func (f *devLLMFlags) register(fs *flag.FlagSet, prefix string) {
	fs.Float64Var(&f.rate, prefix+"rate", 20, "stream `N` tokens a second (0: as fast as it can)")
	fs.StringVar(&f.reply, prefix+"reply", "", "answer every completion with this `TEXT` (default: echo the last user message or the prompt)")
	fs.StringVar(&f.model, prefix+"model", devLLMModel, "model `NAME` the stand-in reports")
	fs.IntVar(&f.dimensions, prefix+"dimensions", 16, "length of the stand-in's embedding vectors")
	fs.StringVar(&f.fault, prefix+"fault", "", "make requests misbehave: `FAULT` is one of "+strings.Join(devllm.FaultNames(), ", "))
	fs.IntVar(&f.faultCount, prefix+"fault-count", 1, "how many requests the fault hits (then answers are normal)")
	fs.StringVar(&f.faultTarget, prefix+"fault-endpoint", "chat", "endpoint the fault hits: chat, completions or embeddings")
}

// start runs the stand-in on addr and scripts its faults.
func (f *devLLMFlags) start(addr string) (*devllm.Server, error) {
	if f.rate < 0 {
		return nil, fmt.Errorf("token rate %v: want 0 or more tokens per second", f.rate)
	}
	if f.dimensions <= 0 || f.dimensions > 8192 {
		return nil, fmt.Errorf("dimensions %d: want 1 to 8192", f.dimensions)
	}
	var steps []devllm.Step
	var ep devllm.Endpoint
	if f.fault != "" {
		var err error
		ep, steps, err = devllm.FaultRequest{Endpoint: f.faultTarget, Fault: f.fault, Count: f.faultCount}.Steps()
		if err != nil {
			return nil, err
		}
	}
	opts := devllm.Options{Model: f.model, Dimensions: f.dimensions}
	if f.rate > 0 {
		opts.TokenInterval = time.Duration(float64(time.Second) / f.rate)
	}
	if f.reply != "" {
		chunks := strings.SplitAfter(f.reply, " ")
		opts.Reply = func(devllm.Request) devllm.Reply { return devllm.Reply{Chunks: chunks} }
	}
	s, err := devllm.Start(addr, opts)
	if err != nil {
		return nil, fmt.Errorf("dev-llm: listen on %s: %w", addr, err)
	}
	if len(steps) > 0 {
		s.Queue(ep, steps...)
	}
	return s, nil
}

// withDevLLM starts the stand-in on a free loopback port and returns an
// environment whose completion and embedding endpoint is the stand-in, so
// that serve and run use it as they would a real server.
func (f *devLLMFlags) withDevLLM(env *cliEnv) (*cliEnv, func(), error) {
	s, err := f.start("127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	set := map[string]string{
		openai.EnvBaseURL:        s.URL,
		openai.EnvModel:          f.model,
		openai.EnvEmbeddingModel: f.model,
		openai.EnvAPIKey:         "",
		openai.EnvConfig:         "",
		fromenv.EnvEmbedder:      "openai",
	}
	next := *env
	next.getenv = func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return env.getenv(k)
	}
	fmt.Fprintf(env.stderr, "dev-llm: development stand-in for a model on %s (echo answers, not a real model)\n", s.URL)
	return &next, s.Close, nil
}

func cmdDevLLM(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("dev-llm", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen on `HOST:PORT` (port 0 picks a free one)")
	var f devLLMFlags
	f.register(fs, "")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, `usage: grimoire dev-llm [--addr HOST:PORT] [--rate N] [--reply TEXT] [--fault FAULT]

A development stand-in for an OpenAI-compatible completion and embedding
server (vLLM, llama.cpp, Ollama, OpenAI), for trying model nodes without a
GPU. It is not a model: it echoes the last user message (or --reply) word by
word at --rate tokens a second, reports usage, and answers embeddings with
deterministic vectors. Point the server at it:

  GRIMOIRE_OPENAI_BASE_URL=http://127.0.0.1:8081/v1 grimoire serve

or let serve and run start one themselves with --dev-llm. Faults for trying
retries: --fault on the command line, or on a running stand-in
  curl -X POST -d '{"fault":"stall","count":2}' http://127.0.0.1:8081/dev/faults

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		return usageError(env, fs, "dev-llm takes no arguments, got %q", fs.Args())
	}
	s, err := f.start(*addr)
	if err != nil {
		return fail(env, err)
	}
	defer s.Close()
	fmt.Fprintf(env.stderr, `grimoire dev-llm: development stand-in for a model on %s (echo answers, not a real model)
  use it:  GRIMOIRE_OPENAI_BASE_URL=%s grimoire serve
  faults:  curl -X POST -d '{"fault":"stall","count":1}' %s/dev/faults
`, s.URL, s.URL, strings.TrimSuffix(s.URL, "/v1"))
	<-ctx.Done()
	return 0
}
