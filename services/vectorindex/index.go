package vectorindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/grimoire-run/grimoire/services"
)

// ErrClosed is returned by every call on a closed Index.
var ErrClosed = errors.New("vector index is closed")

// Options configures Open.
type Options struct {
	// Dir holds the index (created if missing). Required.
	Dir string
	// NoSync skips fsync after each write: faster, but a crash may lose
	// acknowledged writes. For tests and throwaway data only.
	NoSync bool
	// CompactMinDead is how many superseded document versions the log must
	// hold, and outnumber live ones, before it is rewritten; 0 means 1024.
	CompactMinDead int
	// DefaultLimit is the number of hits when a query sets none; 0 means 10.
	DefaultLimit int
	// Logger receives recovery and compaction notes; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CompactMinDead == 0 {
		o.CompactMinDead = 1024
	}
	if o.DefaultLimit == 0 {
		o.DefaultLimit = 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Index is a persistent vector store in a directory. It is safe for
// concurrent use: searches run in parallel with each other and with the
// disk part of writes.
type Index struct {
	opts    Options
	path    string
	release func() error // directory lock

	// writeMu orders writers: log order is apply order.
	writeMu sync.Mutex
	log     *os.File
	size    int64 // end of the last intact record
	dead    int   // superseded document versions in the log

	mu     sync.RWMutex // guards kbs, live, closed
	kbs    map[string]*knowledgeBase
	live   int
	closed bool
}

var _ services.VectorStore = (*Index)(nil)

type knowledgeBase struct {
	dims    int
	tenants map[string]*tenantDocs
}

type tenantDocs struct {
	docs     map[string]*entry
	totalLen int // words over all docs, for BM25's average length
}

type entry struct {
	id       string
	text     string
	meta     []byte            // JSON, decoded fresh for every hit
	metaKeys map[string]string // key -> canonical JSON of the value
	vec      []float32
	norm     float64
	terms    map[string]int // word -> count, for BM25
	length   int
}

// Open opens (creating if needed) the index in opts.Dir, replaying its log.
func Open(opts Options) (*Index, error) {
	opts = opts.withDefaults()
	if opts.Dir == "" {
		return nil, errors.New("open vector index: Options.Dir is empty")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open vector index in %q: %w", opts.Dir, err)
	}
	release, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open vector index in %q: %w", opts.Dir, err)
	}
	ix := &Index{
		opts:    opts,
		path:    filepath.Join(opts.Dir, logName),
		release: release,
		kbs:     map[string]*knowledgeBase{},
	}
	if err := ix.load(); err != nil {
		release()
		return nil, fmt.Errorf("open vector index %q: %w", ix.path, err)
	}
	return ix, nil
}

func (ix *Index) load() error {
	f, err := os.OpenFile(ix.path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	good, err := replayLog(f, func(rec *record) error { return ix.apply(rec) })
	if err != nil {
		f.Close()
		return err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return err
	}
	switch {
	case size == 0 || good == 0:
		// New file, or crashed while writing the header.
		if err := f.Truncate(0); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt([]byte(logHeader), 0); err != nil {
			f.Close()
			return err
		}
		good = int64(len(logHeader))
		if err := ix.sync(f); err != nil {
			f.Close()
			return err
		}
		if !ix.opts.NoSync {
			if err := syncDir(ix.opts.Dir); err != nil {
				f.Close()
				return err
			}
		}
	case good < size:
		ix.opts.Logger.Warn("vector index: dropping a record torn by a crash",
			slog.String("path", ix.path), slog.Int64("offset", good), slog.Int64("bytes", size-good))
		if err := f.Truncate(good); err != nil {
			f.Close()
			return err
		}
		if err := ix.sync(f); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	ix.log, ix.size = f, good
	if ix.needsCompaction() {
		if err := ix.compactLocked(); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
	}
	return nil
}

func (ix *Index) sync(f *os.File) error {
	if ix.opts.NoSync {
		return nil
	}
	return f.Sync()
}

// apply changes the in-memory state for one record. During Open it runs
// alone; afterwards with mu held for writing.
func (ix *Index) apply(rec *record) error {
	kb := ix.kbs[rec.KB]
	switch rec.Op {
	case "put":
		if kb == nil {
			kb = &knowledgeBase{tenants: map[string]*tenantDocs{}}
			ix.kbs[rec.KB] = kb
		}
		if kb.dims == 0 {
			kb.dims = rec.Dims
		}
		if rec.Tenant == "" {
			return nil
		}
		td := kb.tenants[rec.Tenant]
		if td == nil {
			td = &tenantDocs{docs: map[string]*entry{}}
			kb.tenants[rec.Tenant] = td
		}
		for _, sd := range rec.Docs {
			e, err := newEntry(sd)
			if err != nil {
				return fmt.Errorf("document %q: %w", sd.ID, err)
			}
			if old := td.docs[e.id]; old != nil {
				td.totalLen -= old.length
				ix.dead++
				ix.live--
			}
			td.docs[e.id] = e
			td.totalLen += e.length
			ix.live++
		}
	case "del":
		if kb == nil {
			return nil
		}
		td := kb.tenants[rec.Tenant]
		if td == nil {
			return nil
		}
		for _, id := range rec.IDs {
			if old := td.docs[id]; old != nil {
				td.totalLen -= old.length
				delete(td.docs, id)
				ix.live--
				ix.dead += 2 // the put and this delete
			}
		}
	default:
		return fmt.Errorf("unknown record op %q", rec.Op)
	}
	return nil
}

func newEntry(sd storedDoc) (*entry, error) {
	vec, err := decodeVector(sd.Vector)
	if err != nil {
		return nil, err
	}
	var norm float64
	for _, f := range vec {
		norm += float64(f) * float64(f)
	}
	e := &entry{id: sd.ID, text: sd.Text, meta: sd.Metadata, vec: vec, norm: math.Sqrt(norm)}
	if len(sd.Metadata) > 0 {
		m, err := decodeMetadata(sd.Metadata)
		if err != nil {
			return nil, fmt.Errorf("decode metadata: %w", err)
		}
		e.metaKeys = make(map[string]string, len(m))
		for k, v := range m {
			c, err := services.CanonicalJSON(v)
			if err != nil {
				return nil, err
			}
			e.metaKeys[k] = c
		}
	}
	words := keywordTokens(sd.Text)
	e.length = len(words)
	if len(words) > 0 {
		e.terms = make(map[string]int, len(words))
		for _, w := range words {
			e.terms[w]++
		}
	}
	return e, nil
}

// Upsert stores docs in knowledge base kb for tenant, replacing documents
// with the same ids, creating the knowledge base and tenant on first use.
// Either every document is stored or none is.
func (ix *Index) Upsert(ctx context.Context, kb, tenant string, docs []services.Document) error {
	if err := ix.upsert(ctx, kb, tenant, docs); err != nil {
		return fmt.Errorf("upsert %d documents into knowledge base %q for tenant %q: %w", len(docs), kb, tenant, err)
	}
	return nil
}

func (ix *Index) upsert(ctx context.Context, kb, tenant string, docs []services.Document) error {
	docs, err := services.PrepareUpsert(ctx, kb, tenant, docs)
	if err != nil || len(docs) == 0 {
		return err
	}

	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	ix.mu.RLock()
	closed := ix.closed
	dims := 0
	if k := ix.kbs[kb]; k != nil {
		dims = k.dims
	}
	ix.mu.RUnlock()
	if closed {
		return ErrClosed
	}

	rec := &record{Op: "put", KB: kb, Tenant: tenant, Docs: make([]storedDoc, len(docs))}
	for i, d := range docs {
		if err := services.CheckDocument(i, d); err != nil {
			return err
		}
		if dims == 0 {
			dims = len(d.Vector)
		}
		if len(d.Vector) != dims {
			return &DimensionError{KB: kb, DocID: d.ID, Got: len(d.Vector), Want: dims}
		}
		meta, err := normaliseMetadata(d.Metadata)
		if err != nil {
			return services.InvalidInput("document %q: metadata cannot be encoded as JSON: %v", d.ID, err)
		}
		rec.Docs[i] = storedDoc{ID: d.ID, Text: d.Text, Vector: encodeVector(d.Vector), Metadata: meta}
	}
	rec.Dims = dims
	return ix.commit(rec)
}

// Delete removes the documents with the given ids. Ids that are not there,
// and knowledge bases or tenants that do not exist, are not an error: what
// was asked for is true afterwards.
func (ix *Index) Delete(ctx context.Context, kb, tenant string, ids []string) error {
	if err := ix.delete(ctx, kb, tenant, ids); err != nil {
		return fmt.Errorf("delete %d documents from knowledge base %q for tenant %q: %w", len(ids), kb, tenant, err)
	}
	return nil
}

func (ix *Index) delete(ctx context.Context, kb, tenant string, ids []string) error {
	if err := services.CheckNames(kb, tenant); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	ix.mu.RLock()
	if ix.closed {
		ix.mu.RUnlock()
		return ErrClosed
	}
	var present []string
	if k := ix.kbs[kb]; k != nil {
		if td := k.tenants[tenant]; td != nil {
			seen := map[string]bool{}
			for _, id := range ids {
				if td.docs[id] != nil && !seen[id] {
					seen[id] = true
					present = append(present, id)
				}
			}
		}
	}
	ix.mu.RUnlock()
	if len(present) == 0 {
		return nil
	}
	return ix.commit(&record{Op: "del", KB: kb, Tenant: tenant, IDs: present})
}

// commit makes rec durable, then visible. Caller holds writeMu.
func (ix *Index) commit(rec *record) error {
	frame, err := appendFrame(nil, rec)
	if err != nil {
		return err
	}
	if _, err := ix.log.Write(frame); err != nil {
		ix.rewind()
		return fmt.Errorf("write %s: %w", ix.path, err)
	}
	if err := ix.sync(ix.log); err != nil {
		ix.rewind()
		return fmt.Errorf("sync %s: %w", ix.path, err)
	}
	ix.size += int64(len(frame))
	ix.mu.Lock()
	err = ix.apply(rec)
	ix.mu.Unlock()
	if err != nil {
		return err // cannot happen for a record we built ourselves
	}
	if ix.needsCompaction() {
		if err := ix.compactLocked(); err != nil {
			// The write itself is durable; compaction can wait for the
			// next write or Open.
			ix.opts.Logger.Warn("vector index: compaction failed", slog.String("path", ix.path), slog.Any("err", err))
		}
	}
	return nil
}

// rewind drops a partly written record so the next one starts clean.
func (ix *Index) rewind() {
	if err := ix.log.Truncate(ix.size); err != nil {
		ix.opts.Logger.Error("vector index: cannot drop a failed write; reopen the index", slog.String("path", ix.path), slog.Any("err", err))
	}
	ix.log.Seek(ix.size, io.SeekStart)
}

func (ix *Index) needsCompaction() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.dead >= ix.opts.CompactMinDead && ix.dead > ix.live
}

// Compact rewrites the log with only live documents.
func (ix *Index) Compact(ctx context.Context) error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	ix.mu.RLock()
	closed := ix.closed
	ix.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := ix.compactLocked(); err != nil {
		return fmt.Errorf("compact vector index %q: %w", ix.path, err)
	}
	return nil
}

// compactLocked writes every live document into a new log and swaps it in.
// Caller holds writeMu (or is Open).
func (ix *Index) compactLocked() error {
	const perRecord = 256
	buf := []byte(logHeader)
	var err error
	ix.mu.RLock()
	kbNames := make([]string, 0, len(ix.kbs))
	for name := range ix.kbs {
		kbNames = append(kbNames, name)
	}
	sort.Strings(kbNames)
	for _, name := range kbNames {
		kb := ix.kbs[name]
		buf, err = appendFrame(buf, &record{Op: "put", KB: name, Dims: kb.dims})
		if err != nil {
			break
		}
		for tenant, td := range kb.tenants {
			rec := &record{Op: "put", KB: name, Tenant: tenant, Dims: kb.dims}
			flush := func() {
				buf, err = appendFrame(buf, rec)
				rec.Docs = rec.Docs[:0]
			}
			for _, e := range td.docs {
				rec.Docs = append(rec.Docs, storedDoc{ID: e.id, Text: e.text, Vector: encodeVector(e.vec), Metadata: e.meta})
				if len(rec.Docs) == perRecord {
					if flush(); err != nil {
						break
					}
				}
			}
			if err == nil && (len(rec.Docs) > 0 || len(td.docs) == 0) {
				flush()
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	live, dead := ix.live, ix.dead
	ix.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(ix.path, buf, !ix.opts.NoSync); err != nil {
		return err
	}
	f, err := os.OpenFile(ix.path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("reopen compacted log: %w", err)
	}
	if _, err := f.Seek(int64(len(buf)), io.SeekStart); err != nil {
		f.Close()
		return err
	}
	if ix.log != nil {
		ix.log.Close()
	}
	ix.log, ix.size = f, int64(len(buf))
	ix.mu.Lock()
	ix.dead = 0
	ix.mu.Unlock()
	ix.opts.Logger.Debug("vector index: compacted", slog.String("path", ix.path),
		slog.Int("live", live), slog.Int("dropped", dead), slog.Int("bytes", len(buf)))
	return nil
}

// Close releases the directory. Calls after Close return ErrClosed.
func (ix *Index) Close() error {
	ix.writeMu.Lock()
	defer ix.writeMu.Unlock()
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	ix.kbs = nil
	ix.mu.Unlock()
	err := ix.log.Close()
	if rerr := ix.release(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("close vector index %q: %w", ix.path, err)
	}
	return nil
}
