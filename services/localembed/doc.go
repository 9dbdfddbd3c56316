// Package localembed is Grimoire's embedded default embedder: it turns text
// into vectors on the CPU, deterministically, with no model download and no
// network.
//
// It is lexical, not neural. Each text is split into lower-cased words; word
// unigrams, word bigrams and character n-grams of each word are hashed
// (feature hashing, with a sign hash to keep collisions unbiased) into a
// fixed number of dimensions (384 by default) and the result is
// L2-normalised. Two texts are close when they share words, word pairs or
// word fragments ("embedding" and "embeddings" share most trigrams). It does
// not know that "car" and "automobile" mean the same thing: for that, point
// Grimoire at a real embedding model (services/openai). Vectors from this
// embedder and from a model live in different spaces; never mix them in one
// knowledge base.
//
// The same text always gives the same vector, on every machine and in every
// version that keeps Version unchanged.
//
// localembed uses only the standard library and must not import anything of
// Grimoire's other than services.
package localembed
