package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	grimoire "github.com/grimoire-run/grimoire/client-sdk/go"
	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/protocol"
)

// The CLI beside a running server: `serve` writes the address it listens on
// into its data directory, and the commands that would otherwise open that
// directory (its embedded store is locked by the server) talk to the server
// instead. --server / GRIMOIRE_URL name a server anywhere.
const (
	envServerURL = "GRIMOIRE_URL"
	envToken     = "GRIMOIRE_TOKEN"
	envCLIUser   = "GRIMOIRE_USER"
	// serverFileName is serve's address file inside the data directory.
	serverFileName = "server.json"
	// cliTokenTTL is how long a token minted for one command lives.
	cliTokenTTL = 10 * time.Minute
)

// serverFile is what serve writes into its data directory.
type serverFile struct {
	URL     string    `json:"url"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// writeServerFile records url in dir; the returned func removes the file
// if it still names this process.
func writeServerFile(dir, url string) (func(), error) {
	path := filepath.Join(dir, serverFileName)
	b, err := json.Marshal(serverFile{URL: url, PID: os.Getpid(), Started: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return func() {
		if sf, err := readServerFile(dir); err == nil && sf.PID == os.Getpid() {
			_ = os.Remove(path)
		}
	}, nil
}

func readServerFile(dir string) (serverFile, error) {
	var sf serverFile
	b, err := os.ReadFile(filepath.Join(dir, serverFileName))
	if err != nil {
		return sf, err
	}
	if err := json.Unmarshal(b, &sf); err != nil {
		return sf, fmt.Errorf("%s: %w", filepath.Join(dir, serverFileName), err)
	}
	return sf, nil
}

// liveServer returns the URL of the server serving dir, or "" when none
// answers there (none started, or it stopped without removing its file).
func liveServer(ctx context.Context, dir string) string {
	sf, err := readServerFile(dir)
	if err != nil || sf.URL == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(sf.URL, "/")+"/healthz", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return sf.URL
}

// remoteFlags are the flags of a command that can talk to a server.
type remoteFlags struct {
	server string
	token  string
	// tokenTTL is how long a token minted for the command lives (default
	// cliTokenTTL).
	tokenTTL time.Duration
}

func (f *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "talk to the server at `URL` (env GRIMOIRE_URL) instead of opening the data directory; without it, a server running on the data directory is used")
	fs.StringVar(&f.token, "token", "", "`JWT` for the server (env GRIMOIRE_TOKEN; default: minted from the data directory's secret, for a server on loopback)")
}

// remote is a server the command talks to.
type remote struct {
	*grimoire.Client
	url   string
	token string
}

// connect returns the server the command should talk to, or nil when it
// should open the data directory itself: --server or GRIMOIRE_URL, else the
// server whose address file is in the data directory and answers.
func (f *remoteFlags) connect(ctx context.Context, env *cliEnv, dataFlag string) (*remote, error) {
	dir := dataDir(env, dataFlag)
	u := f.server
	if u == "" {
		u = env.getenv(envServerURL)
	}
	if u == "" {
		if u = liveServer(ctx, dir); u == "" {
			return nil, nil
		}
		fmt.Fprintf(env.stderr, "grimoire: using the server at %s (it holds %s)\n", u, dir)
	}
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://HOST:PORT", u)
	}
	tok := f.token
	if tok == "" {
		tok = env.getenv(envToken)
	}
	if tok == "" {
		if !loopbackHost(parsed.Hostname()) {
			return nil, fmt.Errorf("the server at %s is not on this machine: pass --token or set %s", u, envToken)
		}
		secret, err := auth.LoadSecret(dir)
		if err != nil {
			return nil, fmt.Errorf("no token for the server at %s (pass --token or set %s): %w", u, envToken, err)
		}
		user := env.getenv(envCLIUser)
		if user == "" {
			user = "cli"
		}
		// Whoever can read the server's secret can mint any token; the CLI
		// mints one for itself, with the admin role, for this command only.
		ttl := f.tokenTTL
		if ttl <= 0 {
			ttl = cliTokenTTL
		}
		if tok, err = auth.Issue(secret, user, []string{"admin"}, ttl); err != nil {
			return nil, err
		}
	}
	c, err := grimoire.New(u, grimoire.WithToken(tok), grimoire.WithUserAgent("grimoire-cli"))
	if err != nil {
		return nil, err
	}
	return &remote{Client: c, url: u, token: tok}, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// localOnly refuses a flag that works only with the data directory open.
func localOnly(r *remote, flagName string, set bool, instead string) error {
	if r == nil || !set {
		return nil
	}
	return fmt.Errorf("%s works only on the data directory itself, not through the server at %s; %s", flagName, r.url, instead)
}

// runRemote saves the spell file on the server (a new version when it
// changed) and runs it there, printing what run prints locally.
func runRemote(ctx context.Context, env *cliEnv, r *remote, path string, inputs inputFlags, opts []grimoire.RunOption, p *progress) int {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fail(env, err)
	}
	spell, _, err := graph.ParseSpell(doc)
	if err != nil {
		return fail(env, fmt.Errorf("%s: %w", path, err))
	}
	id := spell.ID
	if id == "" {
		id = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	v, err := r.PutSpell(ctx, id, doc)
	if err != nil {
		return fail(env, err)
	}
	fmt.Fprintf(env.stderr, "spell: %s version %d (%s), saved on the server\n", id, v.Version, shortHash(v.Hash))
	opts = append(opts, grimoire.WithInputOrder(inputs.order...))
	st, err := r.Stream(ctx, id, nonNilMap(inputs.values), opts...)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	return printRemoteRun(env, st, "", p)
}

// printRemoteRun follows a run's events to its end and prints its outputs
// as one JSON object, as a local run does.
func printRemoteRun(env *cliEnv, st *grimoire.EventStream, note string, p *progress) int {
	named := false
	for st.Next() {
		e := st.Event()
		if !named && e.RunID != "" {
			fmt.Fprintf(env.stderr, "run: %s%s\n", e.RunID, note)
			named = true
		}
		if p != nil {
			var m protocol.Message
			if err := json.Unmarshal(e.Raw, &m); err == nil {
				p.show(m)
			}
		}
	}
	res, err := st.Wait()
	if err != nil {
		return fail(env, err)
	}
	if p != nil && p.enc != nil {
		return 0
	}
	if err := json.NewEncoder(env.stdout).Encode(nonNilMap(res.Outputs)); err != nil {
		return fail(env, err)
	}
	return 0
}

func shortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// replayRemote prints a run's timeline (or, with asJSON, its recorded
// events) as the server has them.
func replayRemote(ctx context.Context, env *cliEnv, r *remote, runID string, asJSON bool, width int) int {
	if asJSON {
		evs, err := r.Events(ctx, runID, 0)
		if err != nil {
			return fail(env, err)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetEscapeHTML(false)
		for _, e := range evs {
			if err := enc.Encode(json.RawMessage(e.Raw)); err != nil {
				return fail(env, err)
			}
		}
		return 0
	}
	raw, err := r.Timeline(ctx, runID)
	if err != nil {
		return fail(env, err)
	}
	var tl history.Timeline
	if err := json.Unmarshal(raw, &tl); err != nil {
		return fail(env, fmt.Errorf("the server's timeline of run %s: %w", runID, err))
	}
	printTimeline(env, &tl, width)
	return 0
}

// forkRemote forks a run on the server and follows the new run.
func forkRemote(ctx context.Context, env *cliEnv, r *remote, runID string, req grimoire.ForkRequest, p *progress) int {
	f, err := r.Fork(ctx, runID, req)
	if err != nil {
		return fail(env, err)
	}
	st, err := r.Follow(ctx, f.RunID, 0)
	if err != nil {
		return fail(env, err)
	}
	defer st.Close()
	return printRemoteRun(env, st, fmt.Sprintf(" (fork of %s from %s; recomputing %s)", f.ParentRunID, f.FromNode, strings.Join(f.Recompute, ", ")), p)
}

// remoteLog reads a server's global log (GET /v1/events, which the CLI's
// own token may read) as export reads a store.
type remoteLog struct{ r *remote }

func (l remoteLog) ReadAll(ctx context.Context, from uint64, n int) ([]events.RecordedEvent, error) {
	var out []events.RecordedEvent
	err := l.r.Log(ctx, grimoire.LogQuery{From: max(from, 1), Limit: n}, func(e grimoire.LogEvent) error {
		out = append(out, events.RecordedEvent{Stream: e.Stream, Revision: e.Revision, Position: e.Position, ID: e.ID,
			Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata, Time: e.Time})
		return nil
	})
	return out, err
}

// LastPosition is the log's head: the position of its last event.
func (l remoteLog) LastPosition(ctx context.Context) (uint64, error) {
	var last uint64
	err := l.r.Log(ctx, grimoire.LogQuery{Tail: 1}, func(e grimoire.LogEvent) error {
		last = e.Position
		return nil
	})
	return last, err
}
