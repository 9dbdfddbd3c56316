package bus

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// EnvLeaseBucket names the JetStream key-value bucket that holds run
// leases (default DefaultLeaseBucket). Every process of one deployment
// must name the same bucket; tests name a fresh one each.
const EnvLeaseBucket = "GRIMOIRE_LEASE_BUCKET"

// EnvLeaseTTL sets how long a run lease lives without renewal (default
// 6s): how long a dead process's runs wait before another takes them over.
const EnvLeaseTTL = "GRIMOIRE_LEASE_TTL"

// DefaultLeaseBucket is the bucket of run leases when EnvLeaseBucket is unset.
const DefaultLeaseBucket = "grimoire_run_leases"

// LeaseOptions configures Leases.
type LeaseOptions struct {
	// URL is the NATS server (nats://host:4222), with JetStream enabled.
	URL string
	// Bucket is the key-value bucket of leases, created when missing
	// (default DefaultLeaseBucket).
	Bucket string
	// Owner names this process in the leases it holds (default
	// host-pid-random).
	Owner string
	// TTL is how long a lease lives without renewal (default 6 seconds):
	// a dead owner's runs are free to take over that long after its last
	// renewal.
	TTL time.Duration
	// Renew is how often held leases are renewed (default TTL/3).
	Renew time.Duration
	// ConnectTimeout bounds connecting to NATS (default 5 seconds).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

func (o *LeaseOptions) setDefaults() {
	if o.Bucket == "" {
		o.Bucket = DefaultLeaseBucket
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.TTL <= 0 {
		o.TTL = 6 * time.Second
	}
	if o.Renew <= 0 || o.Renew >= o.TTL {
		o.Renew = o.TTL / 3
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Leases says which process owns which run, across processes: a run is
// owned by the process that holds its lease, an entry of a NATS JetStream
// key-value bucket (key: the run id; value: the owner and when the lease
// expires). A lease is taken with Create, which fails while another entry
// is there, renewed with Update at the revision last written (so a lease
// that another process took over is never written again), and dropped
// with a Delete at that revision. The bucket's TTL removes the entry of an
// owner that died; a lease whose recorded expiry has passed is taken over
// with Update at its revision even before the server removes it.
//
// Cancel requests go to the owner over a core NATS subject of the bucket
// (request and reply: the owner answers when it has cancelled).
//
// It is safe for concurrent use. Close releases nothing: the leases of a
// process that stops lapse after the TTL, as those of one that dies.
type Leases struct {
	opts   LeaseOptions
	nc     *nats.Conn
	kv     nats.KeyValue
	cancel *nats.Subscription
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]*heldLease

	stop chan struct{}
	done chan struct{}
}

type heldLease struct {
	rev     uint64
	renewed time.Time // last successful write
	lost    func()
	cancel  func(reason string)
}

// leaseValue is the content of a lease entry.
type leaseValue struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

type cancelRequest struct {
	RunID  string `json:"runId"`
	Reason string `json:"reason"`
}

// OpenLeases connects to NATS, creates the lease bucket when missing, and
// starts renewing the leases this process takes.
func OpenLeases(ctx context.Context, opts LeaseOptions) (*Leases, error) {
	opts.setDefaults()
	nc, err := nats.Connect(opts.URL,
		nats.Name("grimoire-run-leases"),
		nats.Timeout(opts.ConnectTimeout),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s for run leases: %w (is nats-server running with -js? unset %s for one process)", opts.URL, err, EnvURL)
	}
	js, err := nc.JetStream(nats.Context(ctx))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("JetStream at %s: %w", opts.URL, err)
	}
	kv, err := js.KeyValue(opts.Bucket)
	if errors.Is(err, nats.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(&nats.KeyValueConfig{
			Bucket:      opts.Bucket,
			Description: "Grimoire run leases: which process owns which run",
			History:     1,
			TTL:         opts.TTL,
			Storage:     nats.FileStorage,
		})
		if errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(opts.Bucket) // another process created it first
		}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("run lease bucket %q at %s: %w (is JetStream enabled on the server?)", opts.Bucket, opts.URL, err)
	}
	// The bucket removes entries older than its TTL: one shorter than the
	// leases would drop live leases, and their runs would be taken over
	// from a process still running them.
	if st, err := kv.Status(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("run lease bucket %q: %w", opts.Bucket, err)
	} else if st.TTL() > 0 && st.TTL() < opts.TTL {
		nc.Close()
		return nil, fmt.Errorf("run lease bucket %q keeps entries %v, shorter than the lease TTL %v: use the TTL it was created with, or another bucket (%s)", opts.Bucket, st.TTL(), opts.TTL, EnvLeaseBucket)
	}
	l := &Leases{
		opts: opts, nc: nc, kv: kv, log: opts.Logger,
		held: map[string]*heldLease{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.cancel, err = nc.Subscribe(l.cancelSubject(), l.onCancel)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to cancel requests: %w", err)
	}
	go l.renewLoop()
	return l, nil
}

// Owner is the name this process holds leases under.
func (l *Leases) Owner() string { return l.opts.Owner }

func (l *Leases) cancelSubject() string { return "grimoire.leases." + l.opts.Bucket + ".cancel" }

// plainKey matches run ids that are valid key-value keys as they are.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// leaseKey is the bucket key of a run: its id when that is a valid key,
// else "enc." and its base64url (a plain id has no dot, so the two never
// meet).
func leaseKey(runID string) string {
	if plainKey.MatchString(runID) {
		return runID
	}
	return "enc." + base64.RawURLEncoding.EncodeToString([]byte(runID))
}

func (l *Leases) value() []byte {
	b, _ := json.Marshal(leaseValue{Owner: l.opts.Owner, Expires: l.opts.Now().Add(l.opts.TTL).UTC()})
	return b
}

// Acquire makes this process the owner of runID: true when it now holds
// the lease, false when a live owner (this process included) holds it.
// lost (if not nil) is called once when the lease could not be kept (its
// renewal was refused because another process took it, or NATS was out of
// reach for longer than the TTL): the holder must then stop the run.
// cancel (if not nil) is called when a process asks the owner to cancel
// the run.
func (l *Leases) Acquire(ctx context.Context, runID string, lost func(), cancel func(reason string)) (bool, error) {
	key := leaseKey(runID)
	l.mu.Lock()
	_, mine := l.held[runID]
	l.mu.Unlock()
	if mine {
		return false, nil
	}
	for try := 0; try < 3; try++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		rev, err := l.kv.Create(key, l.value())
		if err == nil {
			l.hold(runID, rev, lost, cancel)
			return true, nil
		}
		if !wrongRevision(err) {
			return false, fmt.Errorf("take the lease of run %s: %w", runID, err)
		}
		entry, err := l.kv.Get(key)
		if errors.Is(err, nats.ErrKeyNotFound) {
			continue // it lapsed or was released meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("read the lease of run %s: %w", runID, err)
		}
		if l.live(entry) {
			return false, nil
		}
		// Its owner stopped renewing it: take it over at its revision, so
		// that of two processes doing the same only one wins.
		rev, err = l.kv.Update(key, l.value(), entry.Revision())
		if err == nil {
			l.log.Info("run lease taken over", "run", runID, "from", ownerOf(entry))
			l.hold(runID, rev, lost, cancel)
			return true, nil
		}
		if wrongRevision(err) {
			return false, nil
		}
		return false, fmt.Errorf("take over the lease of run %s: %w", runID, err)
	}
	return false, nil
}

// Owned says whether a live owner holds runID's lease, and who.
func (l *Leases) Owned(ctx context.Context, runID string) (owner string, live bool, err error) {
	entry, err := l.kv.Get(leaseKey(runID))
	if errors.Is(err, nats.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the lease of run %s: %w", runID, err)
	}
	return ownerOf(entry), l.live(entry), nil
}

func (l *Leases) live(entry nats.KeyValueEntry) bool {
	if entry.Operation() != nats.KeyValuePut {
		return false
	}
	var v leaseValue
	if err := json.Unmarshal(entry.Value(), &v); err != nil {
		return false // not a lease: whoever comes next overwrites it
	}
	return v.Expires.After(l.opts.Now())
}

func ownerOf(entry nats.KeyValueEntry) string {
	var v leaseValue
	json.Unmarshal(entry.Value(), &v)
	return v.Owner
}

func (l *Leases) hold(runID string, rev uint64, lost func(), cancel func(string)) {
	l.mu.Lock()
	l.held[runID] = &heldLease{rev: rev, renewed: l.opts.Now(), lost: lost, cancel: cancel}
	l.mu.Unlock()
}

// Release drops this process's lease of runID (the run ended here), so
// that nobody waits for it to lapse. A lease another process took over
// meanwhile is left alone.
func (l *Leases) Release(runID string) {
	l.mu.Lock()
	h, ok := l.held[runID]
	delete(l.held, runID)
	l.mu.Unlock()
	if !ok {
		return
	}
	if err := l.kv.Delete(leaseKey(runID), nats.LastRevision(h.rev)); err != nil && !wrongRevision(err) {
		l.log.Warn("run lease not released; it lapses by itself", "run", runID, "err", err)
	}
}

// Held lists the runs whose leases this process holds.
func (l *Leases) Held() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.held))
	for id := range l.held {
		out = append(out, id)
	}
	return out
}

// RequestCancel asks the owner of runID to cancel it and waits for its
// answer: false when no live owner holds the run's lease.
func (l *Leases) RequestCancel(ctx context.Context, runID, reason string) (bool, error) {
	if _, live, err := l.Owned(ctx, runID); err != nil || !live {
		return false, err
	}
	body, _ := json.Marshal(cancelRequest{RunID: runID, Reason: reason})
	ctx, cancel := context.WithTimeout(ctx, l.opts.TTL)
	defer cancel()
	if _, err := l.nc.RequestWithContext(ctx, l.cancelSubject(), body); err != nil {
		return false, fmt.Errorf("ask the owner of run %s to cancel it: %w", runID, err)
	}
	return true, nil
}

// onCancel answers the cancel requests for the runs this process owns;
// other processes' runs are theirs to answer.
func (l *Leases) onCancel(m *nats.Msg) {
	var req cancelRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		return
	}
	l.mu.Lock()
	h, ok := l.held[req.RunID]
	l.mu.Unlock()
	if !ok {
		return
	}
	if h.cancel != nil {
		h.cancel(req.Reason)
	}
	m.Respond([]byte(`{"ok":true}`))
}

// renewLoop renews every held lease each Renew interval.
func (l *Leases) renewLoop() {
	defer close(l.done)
	tick := time.NewTicker(l.opts.Renew)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.renewAll()
		}
	}
}

func (l *Leases) renewAll() {
	l.mu.Lock()
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.mu.Lock()
		h, ok := l.held[id]
		var rev uint64
		if ok {
			rev = h.rev
		}
		l.mu.Unlock()
		if !ok {
			continue
		}
		newRev, err := l.kv.Update(leaseKey(id), l.value(), rev)
		l.mu.Lock()
		if l.held[id] != h {
			// Released meanwhile: Release's delete at the old revision
			// missed this renewal, so delete at the new one.
			l.mu.Unlock()
			if err == nil {
				l.kv.Delete(leaseKey(id), nats.LastRevision(newRev))
			}
			continue
		}
		now := l.opts.Now()
		lost := false
		switch {
		case err == nil:
			h.rev, h.renewed = newRev, now
		case wrongRevision(err) || errors.Is(err, nats.ErrKeyNotFound):
			lost = true
		case now.Sub(h.renewed) >= l.opts.TTL:
			lost = true // out of reach too long: others may have it by now
		}
		if lost {
			delete(l.held, id)
		}
		l.mu.Unlock()
		if lost {
			l.log.Warn("run lease lost; the run stops here", "run", id, "err", err)
			if h.lost != nil {
				h.lost()
			}
		} else if err != nil {
			l.log.Warn("run lease not renewed; retrying", "run", id, "err", err)
		}
	}
}

// Close stops renewing and disconnects. Held leases are not released:
// their runs are interrupted, and another process takes them over once
// they lapse.
func (l *Leases) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	l.cancel.Unsubscribe()
	l.nc.Close()
	return nil
}

// RemoveLeaseBucket deletes a lease bucket and every lease in it (a test's
// bucket; a deployment's only when none of its processes runs).
func RemoveLeaseBucket(url, bucket string) error {
	nc, err := nats.Connect(url, nats.Name("grimoire-run-leases"))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return fmt.Errorf("JetStream at %s: %w", url, err)
	}
	if err := js.DeleteKeyValue(bucket); err != nil && !errors.Is(err, nats.ErrStreamNotFound) && !errors.Is(err, nats.ErrBucketNotFound) {
		return fmt.Errorf("delete run lease bucket %q: %w", bucket, err)
	}
	return nil
}

// wrongRevision: a write at an expected revision found another one.
func wrongRevision(err error) bool {
	var apiErr *nats.APIError
	return errors.Is(err, nats.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == nats.JSErrCodeStreamWrongLastSequence)
}
