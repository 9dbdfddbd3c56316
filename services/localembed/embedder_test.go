package localembed_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/localembed"
)

func TestParaphraseRanksAboveUnrelated(t *testing.T) {
	e, err := localembed.New(localembed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query, paraphrase, unrelated string
	}{
		{
			query:      "How do I reset my account password?",
			paraphrase: "To reset the password of your account, open settings and choose reset password.",
			unrelated:  "The weather in Lisbon is sunny with a light breeze from the ocean.",
		},
		{
			query:      "vector databases store embeddings for semantic search",
			paraphrase: "A vector database keeps embedding vectors so you can search them by meaning.",
			unrelated:  "Bake the bread at 220 degrees until the crust is golden brown.",
		},
		{
			query:      "the cat sat on the mat",
			paraphrase: "a cat was sitting on a mat",
			unrelated:  "the stock market fell on the news",
		},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			vecs, err := e.Embed(context.Background(), []string{tt.query, tt.paraphrase, tt.unrelated})
			if err != nil {
				t.Fatal(err)
			}
			near, far := services.Cosine(vecs[0], vecs[1]), services.Cosine(vecs[0], vecs[2])
			t.Logf("paraphrase %.3f, unrelated %.3f", near, far)
			if near <= far+0.1 {
				t.Errorf("paraphrase scored %.3f, unrelated %.3f: want the paraphrase clearly closer", near, far)
			}
		})
	}
}

func TestVectorsAreDeterministicUnitLength(t *testing.T) {
	texts := []string{"", "!!!", "hello", "Hello, world!", "Grüße aus Köln", strings.Repeat("long text ", 500)}
	var zero localembed.Embedder // the zero value must work and match the defaults
	e, err := localembed.New(localembed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := zero.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		if len(a[i]) != localembed.DefaultDims {
			t.Fatalf("text %q: got %d dims, want %d", text, len(a[i]), localembed.DefaultDims)
		}
		var norm float64
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("text %q: dimension %d differs between two embedders: %v vs %v", text, j, a[i][j], b[i][j])
			}
			norm += float64(a[i][j]) * float64(a[i][j])
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("text %q: squared norm %v, want 1", text, norm)
		}
	}
	// Case and punctuation do not change the words, so not the vector.
	if c := services.Cosine(e.EmbedText("Hello, World"), e.EmbedText("hello world")); c < 0.9999 {
		t.Errorf("case/punctuation changed the vector: cosine %v", c)
	}
}

// A golden vector pins the hashing scheme: if this test fails, vectors
// stored by an earlier build are no longer comparable with new ones, and
// Version must change along with the golden values.
func TestSchemeIsPinned(t *testing.T) {
	if localembed.Version != "localembed-v1" {
		t.Fatalf("Version is %q; update the golden vector with it", localembed.Version)
	}
	e, err := localembed.New(localembed.Options{Dims: 16})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5030955, -0.12725656, 0.20254256, 0.07528599, -0.07528599, 0.15057199, 0.19088483, 0,
		-0.35281903, -0.20254256, -0.06362828, 0.06362828, 0.011657716, 0.6653252, -0.011657716, 0.051970564}
	got := e.EmbedText("grimoire spells")
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("dimension %d: got %v, want %v (whole vector %#v)", i, got[i], want[i], got)
		}
	}
}

func TestOptionsAreChecked(t *testing.T) {
	tests := []struct {
		name string
		opts localembed.Options
	}{
		{"tiny dims", localembed.Options{Dims: 4}},
		{"inverted n-grams", localembed.Options{MinNGram: 5, MaxNGram: 3}},
		{"negative weight", localembed.Options{BigramWeight: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := localembed.New(tt.opts); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
	e, err := localembed.New(localembed.Options{Dims: 64})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.EmbedText("x")); got != 64 || e.Dims() != 64 {
		t.Fatalf("Dims 64: got vector of %d, Dims() %d", got, e.Dims())
	}
}

func TestEmbedStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var e localembed.Embedder
	if _, err := e.Embed(ctx, []string{"a", "b"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func BenchmarkEmbed(b *testing.B) {
	var e localembed.Embedder
	text := strings.Repeat("Grimoire runs node graphs for language model applications. ", 8) // ~500 bytes
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		e.EmbedText(text)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "texts/s")
}
