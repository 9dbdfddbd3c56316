package completiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// RunEmbedder checks e against the Embedder contract: one vector per text,
// in order, the same vector for the same text whatever its neighbours, no
// mix-ups between concurrent callers, and cancellation honoured.
func RunEmbedder(t *testing.T, e services.Embedder) {
	t.Helper()
	ctxFor := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	embed := func(t *testing.T, texts ...string) [][]float32 {
		t.Helper()
		vecs, err := e.Embed(ctxFor(t), texts)
		if err != nil {
			t.Fatalf("Embed(%d texts): %v", len(texts), err)
		}
		if len(vecs) != len(texts) {
			t.Fatalf("Embed(%d texts) returned %d vectors", len(texts), len(vecs))
		}
		for i, v := range vecs {
			if len(v) == 0 || len(v) != len(vecs[0]) {
				t.Fatalf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(vecs[0]))
			}
		}
		return vecs
	}

	t.Run("one vector per text in order", func(t *testing.T) {
		abc := embed(t, "the cat sat", "a dog barked", "stock prices fell")
		cba := embed(t, "stock prices fell", "a dog barked", "the cat sat")
		for i := range abc {
			if !same(abc[i], cba[2-i]) {
				t.Fatalf("text %d got a different vector when the order changed (cosine %.5f)", i, services.Cosine(abc[i], cba[2-i]))
			}
		}
		if same(abc[0], abc[1]) {
			t.Fatal("different texts got the same vector")
		}
	})

	t.Run("no texts, no vectors", func(t *testing.T) {
		vecs, err := e.Embed(ctxFor(t), nil)
		if err != nil || len(vecs) != 0 {
			t.Fatalf("Embed(nil) = %d vectors, %v; want none and no error", len(vecs), err)
		}
	})

	t.Run("many texts", func(t *testing.T) {
		texts := make([]string, 150)
		for i := range texts {
			texts[i] = fmt.Sprintf("document number %d", i)
		}
		vecs := embed(t, texts...)
		for _, i := range []int{0, 77, 149} {
			if one := embed(t, texts[i]); !same(one[0], vecs[i]) {
				t.Fatalf("text %d: vector differs alone and in a batch (cosine %.5f)", i, services.Cosine(one[0], vecs[i]))
			}
		}
	})

	t.Run("concurrent callers get their own vectors", func(t *testing.T) {
		const n = 24
		want := make([][]float32, n)
		for i := range n {
			want[i] = embed(t, fmt.Sprintf("caller %d says hello", i))[0]
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				texts := []string{fmt.Sprintf("caller %d says hello", i)}
				if i%3 == 0 { // some callers send two texts
					texts = append(texts, fmt.Sprintf("caller %d says hello", (i+1)%n))
				}
				vecs, err := e.Embed(ctxFor(t), texts)
				if err != nil {
					errs <- fmt.Errorf("caller %d: %w", i, err)
					return
				}
				if len(vecs) != len(texts) {
					errs <- fmt.Errorf("caller %d: %d vectors for %d texts", i, len(vecs), len(texts))
					return
				}
				if !same(vecs[0], want[i]) || (len(texts) == 2 && !same(vecs[1], want[(i+1)%n])) {
					errs <- fmt.Errorf("caller %d got someone else's vector", i)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("cancelled context ends the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := e.Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want one wrapping context.Canceled", err)
		}
	})
}

// same allows for the float noise of GPU kernels.
func same(a, b []float32) bool { return len(a) == len(b) && services.Cosine(a, b) > 0.999 }
