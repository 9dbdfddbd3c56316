package localembed

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/services"
)

// Version names the feature scheme. It changes whenever a change to this
// package would give an existing text a different vector, so that callers
// can store it next to their vectors and re-embed when it differs.
const Version = "localembed-v1"

// DefaultDims is the vector size when Options.Dims is zero.
const DefaultDims = 384

// Options configures an Embedder. The zero value is ready to use.
type Options struct {
	// Dims is the vector size; 0 means DefaultDims.
	Dims int
	// MinNGram and MaxNGram bound the character n-grams taken from each word
	// (with "<" and ">" marking its ends); 0 means 3 and 5.
	MinNGram, MaxNGram int
	// UnigramWeight, BigramWeight and NGramWeight scale each kind of
	// feature; 0 means 1.0, 0.5 and 0.4 (spread over a word's n-grams).
	UnigramWeight, BigramWeight, NGramWeight float64
}

func (o Options) withDefaults() Options {
	if o.Dims == 0 {
		o.Dims = DefaultDims
	}
	if o.MinNGram == 0 {
		o.MinNGram = 3
	}
	if o.MaxNGram == 0 {
		o.MaxNGram = 5
	}
	if o.UnigramWeight == 0 {
		o.UnigramWeight = 1.0
	}
	if o.BigramWeight == 0 {
		o.BigramWeight = 0.5
	}
	if o.NGramWeight == 0 {
		o.NGramWeight = 0.4
	}
	return o
}

// Embedder is a feature-hashing embedder. It holds no state besides its
// options and is safe for concurrent use. The zero value uses the defaults.
type Embedder struct {
	opts Options
}

var _ services.Embedder = (*Embedder)(nil)

// New returns an Embedder, or an error when the options make no sense.
func New(opts Options) (*Embedder, error) {
	opts = opts.withDefaults()
	switch {
	case opts.Dims < 8:
		return nil, fmt.Errorf("localembed: Dims %d is too small: use at least 8 (default %d)", opts.Dims, DefaultDims)
	case opts.MinNGram < 1 || opts.MaxNGram < opts.MinNGram:
		return nil, fmt.Errorf("localembed: n-gram range %d..%d is invalid", opts.MinNGram, opts.MaxNGram)
	case opts.UnigramWeight < 0 || opts.BigramWeight < 0 || opts.NGramWeight < 0:
		return nil, fmt.Errorf("localembed: feature weights must not be negative")
	}
	return &Embedder{opts: opts}, nil
}

// Dims is the length of every vector this Embedder returns.
func (e *Embedder) Dims() int { return e.opts.withDefaults().Dims }

// Embed returns one L2-normalised vector per text, in order. It checks ctx
// between texts, so a long batch can be cancelled.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("embed text %d of %d: %w", i, len(texts), err)
			}
		}
		out[i] = e.embed(text)
	}
	return out, nil
}

// EmbedText embeds one text.
func (e *Embedder) EmbedText(text string) []float32 { return e.embed(text) }

func (e *Embedder) embed(text string) []float32 {
	opts := e.opts.withDefaults() // the zero Embedder works too
	acc := make([]float64, opts.Dims)
	words := Words(text)
	var bounds []int // rune start offsets of the current wrapped word, reused
	for i, w := range words {
		weight := 1.0
		if stopWords[w] {
			// Function words carry little meaning; keep them so that a text
			// made only of them still has a direction, but let content
			// words decide similarity.
			weight = 0.15
		}
		add(acc, fnvString(fnvString(fnvOffset, "w\x00"), w), opts.UnigramWeight*weight)
		if i > 0 {
			prev := words[i-1]
			// A pair is as meaningful as its stronger word: "the cat"
			// counts, "of the" hardly does.
			bw := weight
			if !stopWords[prev] {
				bw = 1
			}
			h := fnvString(fnvString(fnvString(fnvOffset, "b\x00"), prev), "\x00")
			add(acc, fnvString(h, w), opts.BigramWeight*bw)
		}
		wrapped := "<" + w + ">"
		bounds = bounds[:0]
		for off := range wrapped {
			bounds = append(bounds, off)
		}
		bounds = append(bounds, len(wrapped))
		runes := len(bounds) - 1
		var grams int
		for n := opts.MinNGram; n <= opts.MaxNGram && n <= runes; n++ {
			grams += runes - n + 1
		}
		if grams == 0 {
			continue
		}
		// Spread the n-gram weight over the word so long words do not
		// drown short ones.
		gw := opts.NGramWeight * weight / math.Sqrt(float64(grams))
		prefix := fnvString(fnvOffset, "c\x00")
		for n := opts.MinNGram; n <= opts.MaxNGram && n <= runes; n++ {
			for j := 0; j+n <= runes; j++ {
				add(acc, fnvString(prefix, wrapped[bounds[j]:bounds[j+n]]), gw)
			}
		}
	}
	var norm float64
	for _, v := range acc {
		norm += v * v
	}
	vec := make([]float32, opts.Dims)
	if norm == 0 {
		// An empty (or all-punctuation) text still needs a unit vector:
		// cosine distance is undefined for the zero vector. All empty texts
		// share this one direction.
		add(acc, fnvString(fnvOffset, "empty\x00"), 1)
		norm = 1
	}
	inv := 1 / math.Sqrt(norm)
	for i, v := range acc {
		vec[i] = float32(v * inv)
	}
	return vec
}

// FNV-1a, 64 bit, written out so hashing a feature allocates nothing.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// add puts one hashed feature into acc: the low bits pick the bucket and
// the high bit the sign, so colliding features cancel out on average
// instead of piling up.
func add(acc []float64, sum uint64, weight float64) {
	idx := int(sum % uint64(len(acc)))
	if sum>>63 == 1 {
		weight = -weight
	}
	acc[idx] += weight
}

// Words splits text into lower-cased words: maximal runs of letters and
// digits. It is the tokenisation localembed hashes, exported so that a
// keyword scorer can agree with it.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// stopWords are common English function words, down-weighted.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does
		for from had has have he her his how i if in into is it its me my no not of on or our
		she so than that the their them then there these they this to was we were what when
		where which who why will with would you your`) {
		m[w] = true
	}
	return m
}()
