package embedbatch_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grimoire-run/grimoire/services/completiontest"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/embedbatch"
	"github.com/grimoire-run/grimoire/services/openai"
)

// recordingEmbedder stands in for the real embedder in timing tests that
// run in a synctest bubble (no network there); it records every call.
type recordingEmbedder struct {
	mu      sync.Mutex
	calls   [][]string
	ctxErrs []error
	fail    error
	short   bool          // return one vector too few
	block   chan struct{} // when set, calls wait for it to close (or ctx)
}

func vectorOf(text string) []float32 {
	h := fnv.New32a()
	h.Write([]byte(text))
	return []float32{float32(h.Sum32() % 1000), float32(len(text))}
}

func (f *recordingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), texts...))
	block, fail, short := f.block, f.fail, f.short
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
		f.mu.Lock()
		f.ctxErrs = append(f.ctxErrs, ctx.Err())
		f.mu.Unlock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = vectorOf(t)
	}
	if short {
		out = out[1:]
	}
	return out, nil
}

func (f *recordingEmbedder) callSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var sizes []int
	for _, c := range f.calls {
		sizes = append(sizes, len(c))
	}
	return sizes
}

// embedAll runs one Embed per text set concurrently and returns results
// and errors by caller.
func embedAll(ctx context.Context, b *embedbatch.Batcher, sets [][]string) ([][][]float32, []error) {
	vecs := make([][][]float32, len(sets))
	errs := make([]error, len(sets))
	var wg sync.WaitGroup
	for i, texts := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vecs[i], errs[i] = b.Embed(ctx, texts)
		}()
	}
	wg.Wait()
	return vecs, errs
}

func TestConcurrentCallsShareOneCallAndGetTheirOwnVectors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{}
		b := embedbatch.New(next, embedbatch.Options{MaxBatch: 64, MaxWait: 10 * time.Millisecond})
		defer b.Close()
		var sets [][]string
		for i := range 20 {
			set := []string{fmt.Sprintf("text %d", i)}
			if i%4 == 0 {
				set = append(set, fmt.Sprintf("extra %d", i))
			}
			sets = append(sets, set)
		}
		start := time.Now()
		vecs, errs := embedAll(t.Context(), b, sets)
		for i, set := range sets {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			for j, text := range set {
				if !reflect.DeepEqual(vecs[i][j], vectorOf(text)) {
					t.Fatalf("caller %d text %d got the wrong vector", i, j)
				}
			}
		}
		if sizes := next.callSizes(); !reflect.DeepEqual(sizes, []int{25}) {
			t.Fatalf("underlying calls of sizes %v, want one of 25", sizes)
		}
		if waited := time.Since(start); waited != 9*time.Millisecond {
			t.Fatalf("a batch short of MaxBatch went out after %v, want 9ms (MaxWait 10ms less its 10%% allowance)", waited)
		}
	})
}

func TestFullBatchGoesOutWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{}
		b := embedbatch.New(next, embedbatch.Options{MaxBatch: 4, MaxWait: time.Second})
		defer b.Close()
		start := time.Now()
		_, errs := embedAll(t.Context(), b, [][]string{{"a", "b"}, {"c", "d"}})
		if errors.Join(errs...) != nil || time.Since(start) != 0 {
			t.Fatalf("errors %v after %v; want a full batch sent at once", errs, time.Since(start))
		}
	})
}

func TestBatchesNeverExceedMaxBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{}
		b := embedbatch.New(next, embedbatch.Options{MaxBatch: 4, MaxWait: time.Millisecond})
		defer b.Close()
		sets := [][]string{{"big1", "big2", "big3", "big4", "big5", "big6"}}
		for i := range 10 {
			sets = append(sets, []string{fmt.Sprint(i)})
		}
		vecs, errs := embedAll(t.Context(), b, sets)
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if len(vecs[0]) != 6 {
			t.Fatalf("oversized request got %d vectors", len(vecs[0]))
		}
		total := 0
		for _, n := range next.callSizes() {
			total += n
			if n > 4 && n != 6 {
				t.Fatalf("call of %d texts; MaxBatch is 4 (a single larger request goes alone)", n)
			}
		}
		if total != 16 {
			t.Fatalf("%d texts embedded, want 16", total)
		}
	})
}

func TestFailedBatchFailsEveryCallerInIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("GPU on fire")
		next := &recordingEmbedder{fail: boom}
		b := embedbatch.New(next, embedbatch.Options{MaxWait: time.Millisecond})
		defer b.Close()
		_, errs := embedAll(t.Context(), b, [][]string{{"a"}, {"b"}, {"c"}})
		for i, err := range errs {
			if !errors.Is(err, boom) {
				t.Fatalf("caller %d: err = %v, want the batch's error", i, err)
			}
		}
		// The next batch is unaffected.
		next.mu.Lock()
		next.fail = nil
		next.mu.Unlock()
		if _, err := b.Embed(t.Context(), []string{"d"}); err != nil {
			t.Fatal(err)
		}

		next.mu.Lock()
		next.short = true
		next.mu.Unlock()
		if _, err := b.Embed(t.Context(), []string{"e", "f"}); err == nil {
			t.Fatal("a short answer from the embedder was passed on")
		}
	})
}

func TestOneCallerGivingUpDoesNotBreakTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{block: make(chan struct{})}
		b := embedbatch.New(next, embedbatch.Options{MaxWait: time.Millisecond})
		defer b.Close()

		quitter, quit := context.WithCancel(t.Context())
		var quitterErr, stayerErr error
		var stayerVecs [][]float32
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, quitterErr = b.Embed(quitter, []string{"q"}) }()
		go func() { defer wg.Done(); stayerVecs, stayerErr = b.Embed(t.Context(), []string{"s"}) }()
		synctest.Wait() // both are in the batch, which is blocked in the embedder
		quit()
		synctest.Wait()
		if !errors.Is(quitterErr, context.Canceled) {
			t.Fatalf("quitter: %v, want context.Canceled at once", quitterErr)
		}
		close(next.block)
		wg.Wait()
		if stayerErr != nil || !reflect.DeepEqual(stayerVecs, [][]float32{vectorOf("s")}) {
			t.Fatalf("stayer: %v, %v", stayerVecs, stayerErr)
		}
		if next.ctxErrs[0] != nil {
			t.Fatalf("the batch's context ended (%v) though a caller still waited", next.ctxErrs[0])
		}
	})
}

func TestBatchIsCancelledWhenAllCallersGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{block: make(chan struct{})}
		b := embedbatch.New(next, embedbatch.Options{MaxWait: time.Millisecond})
		defer b.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, errs := embedAll(ctx, b, [][]string{{"a"}, {"b"}})
		for _, err := range errs {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
		}
		synctest.Wait()
		if len(next.ctxErrs) != 1 || next.ctxErrs[0] == nil {
			t.Fatalf("the abandoned batch was not cancelled: %v", next.ctxErrs)
		}
	})
}

func TestCloseFailsWaitersAndStopsGoroutines(t *testing.T) {
	// synctest.Test fails if any goroutine of the bubble outlives it.
	synctest.Test(t, func(t *testing.T) {
		next := &recordingEmbedder{block: make(chan struct{})}
		b := embedbatch.New(next, embedbatch.Options{MaxWait: time.Millisecond, MaxInFlight: 1})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); _, errs[0] = b.Embed(context.Background(), []string{"in flight"}) }()
		synctest.Wait()
		time.Sleep(2 * time.Millisecond) // the first batch is now in the embedder
		go func() { defer wg.Done(); _, errs[1] = b.Embed(context.Background(), []string{"queued"}) }()
		synctest.Wait()
		time.Sleep(2 * time.Millisecond) // the second waits for a free slot
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, embedbatch.ErrClosed) {
				t.Fatalf("caller %d: err = %v, want ErrClosed", i, err)
			}
		}
		if _, err := b.Embed(t.Context(), []string{"late"}); !errors.Is(err, embedbatch.ErrClosed) {
			t.Fatalf("Embed after Close: %v", err)
		}
		_ = b.Close()
	})
}

func TestBatcherPassesEmbedderContract(t *testing.T) {
	srv := devllm.New(t, devllm.Options{})
	c, err := openai.New(openai.Options{BaseURL: srv.URL, EmbeddingModel: "bge-m3"})
	if err != nil {
		t.Fatal(err)
	}
	b := embedbatch.New(c, embedbatch.Options{MaxBatch: 32, MaxWait: 2 * time.Millisecond})
	defer b.Close()
	completiontest.RunEmbedder(t, b)
	if len(srv.RequestsTo(devllm.Embeddings)) == 0 {
		t.Fatal("no calls reached the server")
	}
}
