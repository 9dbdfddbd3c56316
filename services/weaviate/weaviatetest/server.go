// Package weaviatetest starts a real Weaviate server for tests: the
// weaviate-server binary that `make weaviate` installs (go install
// github.com/weaviate/weaviate/cmd/weaviate-server@v1.33.0), on free
// loopback ports, with anonymous access, no vectorizer modules, telemetry
// off and a temporary data directory, killed when the test ends.
//
// weaviatetest uses only the standard library (it does not import the
// Weaviate client) and only test code may import it.
package weaviatetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinEnv names the environment variable that points at weaviate-server.
const BinEnv = "GRIMOIRE_WEAVIATE_BIN"

// InstallCommand is what installs the binary the way the Makefile does.
const InstallCommand = "make weaviate   (or: GOBIN=$PWD/.cache/bin go install github.com/weaviate/weaviate/cmd/weaviate-server@v1.33.0)"

// Server is one running weaviate-server.
type Server struct {
	// Host is host:port of the REST API, e.g. "127.0.0.1:41234".
	Host string
	// GRPCHost is host:port of the gRPC API.
	GRPCHost string
	// DataDir is the server's PERSISTENCE_DATA_PATH.
	DataDir string
	// Startup is how long the server took to become ready.
	Startup time.Duration

	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

// Binary finds weaviate-server: $GRIMOIRE_WEAVIATE_BIN, else
// .cache/bin/weaviate-server in the module root (found by walking up from
// the working directory to go.mod). It returns "" when there is none.
func Binary() string {
	if p := os.Getenv(BinEnv); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".cache", "bin", "weaviate-server")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Start runs a fresh server for t and stops it when t ends. Without a
// binary the test fails when CI=true and is skipped otherwise.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "weaviate-server not found: set " + BinEnv + " or run " + InstallCommand
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("weaviate-server at %s (%s): %v; install it with %s", bin, BinEnv, err, InstallCommand)
	}
	s, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop weaviate: %v", err)
		}
	})
	t.Logf("weaviate-server ready on %s in %v", s.Host, s.Startup.Round(time.Millisecond))
	return s
}

func start(bin, dataDir string) (*Server, error) {
	// Six ports: REST, gRPC, gossip, cluster data, Raft, Raft RPC. Each is
	// taken from the kernel and released just before the server binds it;
	// another process could grab one in between, which Start reports.
	ports, err := freePorts(4)
	if err != nil {
		return nil, fmt.Errorf("find free ports: %w", err)
	}
	rest, grpc, gossip, data := ports[0], ports[1], ports[2], ports[3]
	// Weaviate dials a peer's internal RPC server at that peer's Raft port
	// plus one, whatever RAFT_INTERNAL_RPC_PORT says; with any other pair
	// a single node never finishes bootstrapping.
	raft, err := freePortPair()
	if err != nil {
		return nil, fmt.Errorf("find two adjacent free ports: %w", err)
	}
	raftRPC := raft + 1
	node := "grimoire-test-node"
	cmd := exec.Command(bin, "--scheme", "http", "--host", "127.0.0.1", "--port", strconv.Itoa(rest))
	cmd.Env = append(os.Environ(),
		"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true",
		"AUTHENTICATION_APIKEY_ENABLED=false",
		"AUTHORIZATION_ENABLE_RBAC=false",
		"PERSISTENCE_DATA_PATH="+dataDir,
		"DEFAULT_VECTORIZER_MODULE=none",
		"ENABLE_MODULES=",
		"DISABLE_TELEMETRY=true", // it would phone home otherwise
		"GO_PROFILING_DISABLE=true",
		"PROMETHEUS_MONITORING_ENABLED=false",
		"QUERY_DEFAULTS_LIMIT=10",
		"LOG_LEVEL=warning",
		"CLUSTER_HOSTNAME="+node,
		"CLUSTER_IN_LOCALHOST=true",
		"CLUSTER_ADVERTISE_ADDR=127.0.0.1",
		"CLUSTER_ADVERTISE_PORT="+strconv.Itoa(gossip),
		"CLUSTER_GOSSIP_BIND_PORT="+strconv.Itoa(gossip),
		"CLUSTER_DATA_BIND_PORT="+strconv.Itoa(data),
		"GRPC_PORT="+strconv.Itoa(grpc),
		"RAFT_PORT="+strconv.Itoa(raft),
		"RAFT_INTERNAL_RPC_PORT="+strconv.Itoa(raftRPC),
		"RAFT_JOIN="+node+":"+strconv.Itoa(raft),
		"RAFT_BOOTSTRAP_EXPECT=1",
		// Two cores are shared by everyone here: do not let one test
		// server take them all.
		"GOMAXPROCS=2",
		"LIMIT_RESOURCES=true",
	)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(rest)),
		GRPCHost: net.JoinHostPort("127.0.0.1", strconv.Itoa(grpc)),
		DataDir:  dataDir,
		cmd:      cmd,
		done:     make(chan struct{}),
		log:      log,
	}
	go func() { cmd.Wait(); close(s.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("weaviate-server did not become ready: %w\n--- server output (tail) ---\n%s", err, s.log.tail(4000))
	}
	s.Startup = time.Since(began)
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + s.Host + "/v1/.well-known/ready"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("process exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("status %d", resp.StatusCode)
	}
}

// Logs returns the tail of the server's output.
func (s *Server) Logs() string { return s.log.tail(8000) }

// Stop terminates the server (SIGTERM, then SIGKILL after 10s) and waits
// for it to exit.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	pgid := -s.cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(pgid, syscall.SIGKILL)
	select {
	case <-s.done:
		return errors.New("did not stop within 10s of SIGTERM; killed")
	case <-time.After(5 * time.Second):
		return errors.New("did not exit after SIGKILL")
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freePortPair returns a port p such that p and p+1 are both free.
func freePortPair() (int, error) {
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l1.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("no two adjacent free ports after 50 tries")
}

// lockedBuffer collects the server's output; it is written by exec's
// copying goroutines and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		// Keep the newest output only.
		rest := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-(1<<19):]...)
		b.buf.Reset()
		b.buf.Write(rest)
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
