package vectorindex

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/services"
)

// BM25 parameters, Weaviate's defaults.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	// hybridCandidates is how many results each half of a hybrid search
	// contributes before fusion (at least the limit).
	hybridCandidates = 100
)

// Search returns the documents of kb and tenant nearest to q, best first.
// A knowledge base that does not exist is services.ErrNotFound; a tenant
// that has stored nothing yet gets no hits.
func (ix *Index) Search(ctx context.Context, kb, tenant string, q services.SearchQuery) ([]services.SearchHit, error) {
	hits, err := ix.search(ctx, kb, tenant, q)
	if err != nil {
		return nil, fmt.Errorf("search knowledge base %q for tenant %q: %w", kb, tenant, err)
	}
	return hits, nil
}

type scored struct {
	e     *entry
	score float64
}

func (ix *Index) search(ctx context.Context, kb, tenant string, q services.SearchQuery) ([]services.SearchHit, error) {
	if err := services.CheckNames(kb, tenant); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hybrid, err := services.CheckSearchQuery(q)
	if err != nil {
		return nil, err
	}
	filter, err := canonicalFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = ix.opts.DefaultLimit
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, ErrClosed
	}
	k := ix.kbs[kb]
	if k == nil {
		return nil, services.ErrNotFound
	}
	if len(q.Vector) > 0 && k.dims != 0 && len(q.Vector) != k.dims {
		return nil, &DimensionError{KB: kb, Got: len(q.Vector), Want: k.dims}
	}
	td := k.tenants[tenant]
	if td == nil {
		return []services.SearchHit{}, nil
	}
	candidates := make([]*entry, 0, len(td.docs))
	for _, e := range td.docs {
		if matches(e, filter) {
			candidates = append(candidates, e)
		}
	}

	var results []scored
	if !hybrid {
		results = vectorScores(candidates, q.Vector)
	} else {
		results = fuse(td, candidates, q, max(limit, hybridCandidates))
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].score != results[j].score {
			return results[i].score > results[j].score
		}
		return results[i].e.id < results[j].e.id
	})
	if len(results) > limit {
		results = results[:limit]
	}
	hits := make([]services.SearchHit, len(results))
	for i, r := range results {
		meta, err := decodeMetadata(r.e.meta)
		if err != nil {
			return nil, fmt.Errorf("document %q: decode metadata: %w", r.e.id, err)
		}
		hits[i] = services.SearchHit{
			Document: services.Document{ID: r.e.id, Text: r.e.text, Metadata: meta},
			Score:    float32(r.score),
		}
	}
	return hits, nil
}

func matches(e *entry, filter map[string]string) bool {
	for k, want := range filter {
		if got, ok := e.metaKeys[k]; !ok || got != want {
			return false
		}
	}
	return true
}

// vectorScores is the cosine similarity of each candidate to v.
func vectorScores(candidates []*entry, v []float32) []scored {
	var qn float64
	for _, f := range v {
		qn += float64(f) * float64(f)
	}
	qn = math.Sqrt(qn)
	out := make([]scored, len(candidates))
	for i, e := range candidates {
		var dot float64
		for j, f := range e.vec {
			dot += float64(f) * float64(v[j])
		}
		out[i] = scored{e: e, score: dot / (qn * e.norm)}
	}
	return out
}

// keywordScores is BM25 of the query words against each candidate's text,
// with document frequencies over the whole tenant; only candidates that
// contain a query word are returned.
func keywordScores(td *tenantDocs, candidates []*entry, text string) []scored {
	words := keywordTokens(text)
	if len(words) == 0 || len(td.docs) == 0 {
		return nil
	}
	n := float64(len(td.docs))
	avg := float64(td.totalLen) / n
	if avg == 0 {
		avg = 1
	}
	idf := map[string]float64{}
	for _, w := range words {
		if _, ok := idf[w]; ok {
			continue
		}
		var df float64
		for _, e := range td.docs {
			if e.terms[w] > 0 {
				df++
			}
		}
		idf[w] = math.Log(1 + (n-df+0.5)/(df+0.5))
	}
	var out []scored
	for _, e := range candidates {
		var s float64
		for w, weight := range idf {
			tf := float64(e.terms[w])
			if tf == 0 {
				continue
			}
			s += weight * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(e.length)/avg))
		}
		if s > 0 {
			out = append(out, scored{e: e, score: s})
		}
	}
	return out
}

// fuse combines vector and keyword results the way Weaviate's
// relativeScoreFusion does: each list (its best `keep`) is min-max scaled
// to 0..1, then weighted by alpha and 1-alpha and summed.
func fuse(td *tenantDocs, candidates []*entry, q services.SearchQuery, keep int) []scored {
	alpha := float64(q.Alpha)
	total := map[*entry]float64{}
	var order []*entry
	addList := func(list []scored, weight float64) {
		sort.Slice(list, func(i, j int) bool {
			if list[i].score != list[j].score {
				return list[i].score > list[j].score
			}
			return list[i].e.id < list[j].e.id
		})
		if len(list) > keep {
			list = list[:keep]
		}
		if len(list) == 0 {
			return
		}
		hi, lo := list[0].score, list[len(list)-1].score
		for _, r := range list {
			scaled := 1.0
			if hi > lo {
				scaled = (r.score - lo) / (hi - lo)
			}
			if _, ok := total[r.e]; !ok {
				order = append(order, r.e)
			}
			total[r.e] += weight * scaled
		}
	}
	if alpha > 0 {
		addList(vectorScores(candidates, q.Vector), alpha)
	}
	addList(keywordScores(td, candidates, q.Text), 1-alpha)
	out := make([]scored, len(order))
	for i, e := range order {
		out[i] = scored{e: e, score: total[e]}
	}
	return out
}

// keywordTokens is Weaviate's "word" tokenisation: lower-cased runs of
// letters and digits.
func keywordTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
