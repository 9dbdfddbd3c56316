package weaviate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	wv "github.com/weaviate/weaviate-go-client/v4/weaviate"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/auth"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"github.com/grimoire-run/grimoire/services"
)

// Options configures a Store.
type Options struct {
	// Host is the server's host:port, e.g. "127.0.0.1:8080". Required.
	Host string
	// Scheme is "http" (the default) or "https".
	Scheme string
	// APIKey, when set, authenticates with Weaviate's API-key scheme.
	APIKey string
	// ClassPrefix starts every class name; it must match [A-Z][A-Za-z0-9]*.
	// Default "Grimoire".
	ClassPrefix string
	// BatchSize is how many objects one batch request carries; default 100.
	BatchSize int
	// DefaultLimit is the number of hits when a query sets none; default 10.
	DefaultLimit int
	// Timeout bounds one request when ctx has no earlier deadline; default 30s.
	Timeout time.Duration
	// Logger receives schema changes; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Scheme == "" {
		o.Scheme = "http"
	}
	if o.ClassPrefix == "" {
		o.ClassPrefix = "Grimoire"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.DefaultLimit == 0 {
		o.DefaultLimit = 10
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a services.VectorStore on Weaviate. It is safe for concurrent
// use.
type Store struct {
	opts   Options
	client *wv.Client
	http   *http.Client

	// schemaMu serialises class and tenant creation, so that concurrent
	// first writes do not race each other into "already exists".
	schemaMu sync.Mutex
	mu       sync.Mutex
	classes  map[string]bool // classes known to exist
	tenants  map[string]bool // class + "\x00" + tenant known to exist
}

var _ services.VectorStore = (*Store)(nil)

// New connects to the server in opts and checks that it answers.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.Host == "" {
		return nil, errors.New("weaviate: Options.Host is empty (want host:port of the Weaviate server)")
	}
	if !validPrefix(opts.ClassPrefix) {
		return nil, fmt.Errorf("weaviate: ClassPrefix %q must match [A-Z][A-Za-z0-9]*", opts.ClassPrefix)
	}
	cfg := wv.Config{Host: opts.Host, Scheme: opts.Scheme, Timeout: opts.Timeout}
	var hc *http.Client
	if opts.APIKey != "" {
		cfg.AuthConfig = auth.ApiKey{Value: opts.APIKey}
	} else {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		cfg.ConnectionClient = hc
	}
	client, err := wv.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("weaviate: connect to %s://%s: %w", opts.Scheme, opts.Host, err)
	}
	s := &Store{opts: opts, client: client, http: hc, classes: map[string]bool{}, tenants: map[string]bool{}}
	ready, err := client.Misc().ReadyChecker().Do(ctx)
	if err != nil || !ready {
		s.Close()
		return nil, fmt.Errorf("weaviate: server %s://%s is not ready: %w", opts.Scheme, opts.Host, describe(err))
	}
	return s, nil
}

// Close releases idle connections.
func (s *Store) Close() error {
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
	return nil
}

func validPrefix(p string) bool {
	if p == "" || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// describe unwraps the client's errors, which hide the cause in
// DerivedFromError and put the server's body in Msg.
func describe(err error) error {
	if err == nil {
		return errors.New("not ready")
	}
	var ce *fault.WeaviateClientError
	if errors.As(err, &ce) {
		if ce.DerivedFromError != nil {
			return describe(ce.DerivedFromError)
		}
		if ce.StatusCode > 0 {
			return fmt.Errorf("status %d: %s", ce.StatusCode, strings.TrimSpace(ce.Msg))
		}
		return errors.New(ce.Msg)
	}
	return err
}

func statusOf(err error) int {
	var ce *fault.WeaviateClientError
	if errors.As(err, &ce) {
		if ce.DerivedFromError != nil {
			return statusOf(ce.DerivedFromError)
		}
		return ce.StatusCode
	}
	return 0
}

// ErrInvalidInput marks a request that can never succeed as given. It is
// services.ErrInvalidInput, shared with every store.
var ErrInvalidInput = services.ErrInvalidInput

// metaToken is the filterable token of one metadata key and value: a hash,
// so any key and any value fit one "field" token and need no escaping in
// GraphQL.
func metaToken(key, canonical string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + canonical))
	return "m" + hex.EncodeToString(sum[:20])
}

func metaTokens(m map[string]any) ([]string, error) {
	out := make([]string, 0, len(m))
	for k, v := range m {
		c, err := services.CanonicalJSON(v)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", k, err)
		}
		out = append(out, metaToken(k, c))
	}
	return out, nil
}

// dimensionError rewrites Weaviate's messages about vector length, which
// differ between writes and queries, into one that says what to do.
func dimensionError(kb, what string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "vector dimensions do not match") || strings.Contains(msg, "vector lengths don't match") ||
		strings.Contains(msg, "new node has a vector with length") {
		return fmt.Errorf("vector dimension mismatch: %s does not have the dimension of the vectors in knowledge base %q; embed with the model the knowledge base was built with, or use another knowledge base (weaviate: %s)", what, kb, msg)
	}
	return err
}

// properties are the class's properties; see doc.go.
func properties() []*models.Property {
	yes, no := true, false
	return []*models.Property{
		{Name: "text", DataType: []string{"text"}, Tokenization: "word", IndexSearchable: &yes, IndexFilterable: &no},
		{Name: "docId", DataType: []string{"text"}, Tokenization: "field", IndexSearchable: &no, IndexFilterable: &yes},
		{Name: "metadata", DataType: []string{"text"}, Tokenization: "field", IndexSearchable: &no, IndexFilterable: &no},
		{Name: "meta", DataType: []string{"text[]"}, Tokenization: "field", IndexSearchable: &no, IndexFilterable: &yes},
	}
}

func (s *Store) knownClass(class string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.classes[class]
}

func (s *Store) knownTenant(class, tenant string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenants[class+"\x00"+tenant]
}

// classExists asks the server (and remembers a yes).
func (s *Store) classExists(ctx context.Context, class string) (bool, error) {
	if s.knownClass(class) {
		return true, nil
	}
	ok, err := s.client.Schema().ClassExistenceChecker().WithClassName(class).Do(ctx)
	if err != nil {
		return false, fmt.Errorf("check class %s: %w", class, describe(err))
	}
	if ok {
		s.mu.Lock()
		s.classes[class] = true
		s.mu.Unlock()
	}
	return ok, nil
}

// ensureTenant creates the class and the tenant if they do not exist yet.
func (s *Store) ensureTenant(ctx context.Context, kb, class, tenant string) error {
	if s.knownTenant(class, tenant) {
		return nil
	}
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	ok, err := s.classExists(ctx, class)
	if err != nil {
		return err
	}
	if !ok {
		c := &models.Class{
			Class:       class,
			Description: "Grimoire knowledge base " + strconv.Quote(kb),
			Vectorizer:  "none",
			VectorIndexConfig: map[string]any{
				"distance": "cosine",
			},
			MultiTenancyConfig: &models.MultiTenancyConfig{Enabled: true},
			InvertedIndexConfig: &models.InvertedIndexConfig{
				// Keep every word: the embedded index has no stopword list
				// either, and a knowledge base may not be English.
				Stopwords: &models.StopwordConfig{Preset: "none"},
			},
			Properties: properties(),
		}
		if err := s.client.Schema().ClassCreator().WithClass(c).Do(ctx); err != nil {
			// Another process may have created it meanwhile.
			if again, cerr := s.classExists(ctx, class); cerr != nil || !again {
				return fmt.Errorf("create class %s: %w", class, describe(err))
			}
		} else {
			s.opts.Logger.Info("weaviate: created class", slog.String("class", class), slog.String("kb", kb))
		}
		s.mu.Lock()
		s.classes[class] = true
		s.mu.Unlock()
	}
	err = s.client.Schema().TenantsCreator().WithClassName(class).WithTenants(models.Tenant{Name: tenant}).Do(ctx)
	if err != nil {
		exists, xerr := s.client.Schema().TenantsExists().WithClassName(class).WithTenant(tenant).Do(ctx)
		if xerr != nil || !exists {
			return fmt.Errorf("create tenant %s of class %s: %w", tenant, class, describe(err))
		}
	}
	s.mu.Lock()
	s.tenants[class+"\x00"+tenant] = true
	s.mu.Unlock()
	return nil
}

// Upsert stores docs, replacing documents with the same ids, creating the
// knowledge base and tenant on first use. Weaviate has no multi-object
// transactions: when some objects fail, the others are stored, and the
// error names the ones that failed.
func (s *Store) Upsert(ctx context.Context, kb, tenant string, docs []services.Document) error {
	if err := s.upsert(ctx, kb, tenant, docs); err != nil {
		return fmt.Errorf("upsert %d documents into knowledge base %q for tenant %q: %w", len(docs), kb, tenant, err)
	}
	return nil
}

func (s *Store) upsert(ctx context.Context, kb, tenant string, docs []services.Document) error {
	docs, err := services.PrepareUpsert(ctx, kb, tenant, docs)
	if err != nil || len(docs) == 0 {
		return err
	}
	class, wt := className(s.opts.ClassPrefix, kb), tenantName(tenant)
	objects := make([]*models.Object, len(docs))
	byUUID := make(map[strfmt.UUID]string, len(docs))
	dims := len(docs[0].Vector)
	for i, d := range docs {
		if err := services.CheckDocument(i, d); err != nil {
			return err
		}
		if len(d.Vector) != dims {
			return fmt.Errorf("vector dimension mismatch in one batch: document %q has %d dimensions, document %q has %d; every vector of a knowledge base must come from the same model",
				d.ID, len(d.Vector), docs[0].ID, dims)
		}
		props := map[string]any{"text": d.Text, "docId": d.ID}
		if len(d.Metadata) > 0 {
			raw, err := json.Marshal(d.Metadata)
			if err != nil {
				return services.InvalidInput("document %q: metadata cannot be encoded as JSON: %v", d.ID, err)
			}
			tokens, err := metaTokens(d.Metadata)
			if err != nil {
				return services.InvalidInput("document %q: metadata %v", d.ID, err)
			}
			props["metadata"] = string(raw)
			props["meta"] = tokens
		}
		id := strfmt.UUID(objectID(d.ID))
		byUUID[id] = d.ID
		objects[i] = &models.Object{
			Class:      class,
			ID:         id,
			Tenant:     wt,
			Vector:     models.C11yVector(d.Vector),
			Properties: props,
		}
	}
	if err := s.ensureTenant(ctx, kb, class, wt); err != nil {
		return err
	}
	var failed []string
	var nFailed int
	for start := 0; start < len(objects); start += s.opts.BatchSize {
		chunk := objects[start:min(start+s.opts.BatchSize, len(objects))]
		resp, err := s.client.Batch().ObjectsBatcher().WithObjects(chunk...).Do(ctx)
		if err != nil {
			return fmt.Errorf("batch of %d objects (after %d stored): %w", len(chunk), start-nFailed, describe(err))
		}
		if len(resp) != len(chunk) {
			return fmt.Errorf("batch of %d objects: server answered for %d", len(chunk), len(resp))
		}
		// A batch succeeds as a request even when objects fail: each
		// object's result carries its own errors.
		for _, r := range resp {
			if r.Result == nil || r.Result.Errors == nil || len(r.Result.Errors.Error) == 0 {
				continue
			}
			msgs := make([]string, 0, len(r.Result.Errors.Error))
			for _, e := range r.Result.Errors.Error {
				if e != nil {
					msgs = append(msgs, e.Message)
				}
			}
			docID := byUUID[r.ID]
			nFailed++
			if len(failed) < 5 {
				failed = append(failed, dimensionError(kb, fmt.Sprintf("document %q", docID), fmt.Errorf("document %q: %s", docID, strings.Join(msgs, "; "))).Error())
			}
		}
	}
	if nFailed > 0 {
		more := ""
		if nFailed > len(failed) {
			more = fmt.Sprintf("; and %d more", nFailed-len(failed))
		}
		return fmt.Errorf("%d of %d documents not stored: %s%s", nFailed, len(objects), strings.Join(failed, "; "), more)
	}
	return nil
}

// Search returns the nearest documents, best first: nearVector when
// q.Text is empty or q.Alpha is 1, else hybrid (relativeScoreFusion over
// the text property). A knowledge base that does not exist is
// services.ErrNotFound; a user who never stored anything gets no hits.
func (s *Store) Search(ctx context.Context, kb, tenant string, q services.SearchQuery) ([]services.SearchHit, error) {
	hits, err := s.search(ctx, kb, tenant, q)
	if err != nil {
		return nil, fmt.Errorf("search knowledge base %q for tenant %q: %w", kb, tenant, err)
	}
	return hits, nil
}

func (s *Store) search(ctx context.Context, kb, tenant string, q services.SearchQuery) ([]services.SearchHit, error) {
	if err := services.CheckNames(kb, tenant); err != nil {
		return nil, err
	}
	text := queryText(q.Text)
	q.Text = text // what hybrid search would send
	hybrid, err := services.CheckSearchQuery(q)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = s.opts.DefaultLimit
	}
	var where *filters.WhereBuilder
	if len(q.Filter) > 0 {
		tokens, err := metaTokens(q.Filter)
		if err != nil {
			return nil, services.InvalidInput("filter %v", err)
		}
		where = filters.Where().WithPath([]string{"meta"}).WithOperator(filters.ContainsAll).WithValueText(tokens...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	class, wt := className(s.opts.ClassPrefix, kb), tenantName(tenant)
	ok, err := s.classExists(ctx, class)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, services.ErrNotFound
	}

	additional := []graphql.Field{{Name: "id"}, {Name: "distance"}}
	get := s.client.GraphQL().Get().WithClassName(class).WithTenant(wt).WithLimit(limit)
	if hybrid {
		h := s.client.GraphQL().HybridArgumentBuilder().
			WithQuery(text).
			WithAlpha(q.Alpha).
			WithProperties([]string{"text"}).
			WithFusionType(graphql.RelativeScore)
		if q.Alpha > 0 {
			h = h.WithVector(q.Vector)
		}
		get = get.WithHybrid(h)
		additional = []graphql.Field{{Name: "id"}, {Name: "score"}}
	} else {
		get = get.WithNearVector(s.client.GraphQL().NearVectorArgBuilder().WithVector(q.Vector))
	}
	if where != nil {
		get = get.WithWhere(where)
	}
	get = get.WithFields(
		graphql.Field{Name: "text"},
		graphql.Field{Name: "docId"},
		graphql.Field{Name: "metadata"},
		graphql.Field{Name: "_additional", Fields: additional},
	)
	resp, err := get.Do(ctx)
	if err != nil {
		return nil, describe(err)
	}
	if len(resp.Errors) > 0 {
		msgs := make([]string, len(resp.Errors))
		for i, e := range resp.Errors {
			msgs[i] = e.Message
		}
		msg := strings.Join(msgs, "; ")
		if isTenantNotFound(msg) {
			return []services.SearchHit{}, nil // this user has stored nothing yet
		}
		return nil, dimensionError(kb, "the query vector", errors.New(msg))
	}
	return decodeHits(resp, class, hybrid)
}

// isTenantNotFound recognises the query error for a tenant that was never
// created.
func isTenantNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "tenant not found") || strings.Contains(m, "tenant") && strings.Contains(m, "not found")
}

// queryText makes text safe for the GraphQL string the client builds:
// valid UTF-8, no control characters. BM25 splits on them anyway.
func queryText(s string) string {
	s = strings.ToValidUTF8(s, " ")
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
}

func decodeHits(resp *models.GraphQLResponse, class string, hybrid bool) ([]services.SearchHit, error) {
	get, _ := resp.Data["Get"].(map[string]any)
	items, _ := get[class].([]any)
	hits := make([]services.SearchHit, 0, len(items))
	for _, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("unexpected result item %T", it)
		}
		h := services.SearchHit{}
		h.ID, _ = obj["docId"].(string)
		h.Text, _ = obj["text"].(string)
		if raw, _ := obj["metadata"].(string); raw != "" {
			if err := json.Unmarshal([]byte(raw), &h.Metadata); err != nil {
				return nil, fmt.Errorf("document %q: decode metadata: %w", h.ID, err)
			}
		}
		add, _ := obj["_additional"].(map[string]any)
		if hybrid {
			// Hybrid scores come back as strings.
			switch v := add["score"].(type) {
			case string:
				f, err := strconv.ParseFloat(v, 32)
				if err != nil {
					return nil, fmt.Errorf("document %q: score %q: %w", h.ID, v, err)
				}
				h.Score = float32(f)
			case float64:
				h.Score = float32(v)
			}
		} else if d, ok := add["distance"].(float64); ok {
			h.Score = float32(1 - d) // cosine distance back to similarity
		}
		hits = append(hits, h)
	}
	return hits, nil
}

// Delete removes the documents with the given ids. Absent ids, tenants and
// knowledge bases are not an error.
func (s *Store) Delete(ctx context.Context, kb, tenant string, ids []string) error {
	if err := s.delete(ctx, kb, tenant, ids); err != nil {
		return fmt.Errorf("delete %d documents from knowledge base %q for tenant %q: %w", len(ids), kb, tenant, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, kb, tenant string, ids []string) error {
	if err := services.CheckNames(kb, tenant); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	class, wt := className(s.opts.ClassPrefix, kb), tenantName(tenant)
	ok, err := s.classExists(ctx, class)
	if err != nil || !ok {
		return err
	}
	uuids := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		u := objectID(id)
		if !seen[u] {
			seen[u] = true
			uuids = append(uuids, u)
		}
	}
	for start := 0; start < len(uuids); start += s.opts.BatchSize {
		chunk := uuids[start:min(start+s.opts.BatchSize, len(uuids))]
		where := filters.Where().WithPath([]string{"id"}).WithOperator(filters.ContainsAny).WithValueText(chunk...)
		resp, err := s.client.Batch().ObjectsBatchDeleter().
			WithClassName(class).WithTenant(wt).WithWhere(where).WithOutput("minimal").Do(ctx)
		if err != nil {
			if isTenantNotFound(describe(err).Error()) {
				return nil // nothing of this user's to delete
			}
			return fmt.Errorf("batch delete of %d objects: %w", len(chunk), describe(err))
		}
		if resp.Results != nil && resp.Results.Failed > 0 {
			var msgs []string
			for _, o := range resp.Results.Objects {
				if o != nil && o.Errors != nil {
					for _, e := range o.Errors.Error {
						msgs = append(msgs, fmt.Sprintf("object %s: %s", o.ID, e.Message))
					}
				}
			}
			return fmt.Errorf("%d of %d objects not deleted: %s", resp.Results.Failed, len(chunk), strings.Join(msgs, "; "))
		}
	}
	return nil
}
