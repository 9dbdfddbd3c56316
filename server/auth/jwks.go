package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// jwksCache holds the keys of one JWKS URL. A fetch happens on first use,
// when the document is older than maxAge, and when a token names a kid we do
// not know (at most once per minRefresh, so a stream of forged kids cannot
// turn us into a request amplifier).
type jwksCache struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration
	now        func() time.Time

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.RWMutex
	byKID     map[string]jwk
	all       []jwk
	fetchedAt time.Time
}

type jwk struct {
	kid string
	kty string
	key any
}

func newJWKSCache(opts VerifierOptions) *jwksCache {
	c := &jwksCache{
		url:        opts.JWKSURL,
		client:     opts.HTTPClient,
		minRefresh: opts.JWKSMinRefresh,
		maxAge:     opts.JWKSMaxAge,
		now:        opts.Now,
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.minRefresh <= 0 {
		c.minRefresh = 30 * time.Second
	}
	if c.maxAge <= 0 {
		c.maxAge = time.Hour
	}
	return c
}

// keys returns the keys of type kty (RSA or EC) for kid ("" = all of them).
func (c *jwksCache) keys(ctx context.Context, kid, kty string) ([]any, error) {
	found, fetchedAt := c.lookup(kid, kty)
	stale := fetchedAt.IsZero() || c.now().Sub(fetchedAt) > c.maxAge
	unknown := len(found) == 0 && c.now().Sub(fetchedAt) >= c.minRefresh
	if stale || unknown {
		if err := c.refresh(ctx, fetchedAt); err != nil && len(found) == 0 {
			return nil, err
		}
		found, _ = c.lookup(kid, kty)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no %s key with kid %q in JWKS %s", kty, kid, c.url)
	}
	return found, nil
}

func (c *jwksCache) lookup(kid, kty string) ([]any, time.Time) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []any
	if kid != "" {
		if k, ok := c.byKID[kid]; ok && k.kty == kty {
			out = append(out, k.key)
		}
		return out, c.fetchedAt
	}
	for _, k := range c.all {
		if k.kty == kty {
			out = append(out, k.key)
		}
	}
	return out, c.fetchedAt
}

// refresh fetches the document unless another caller already did so since
// seen (the fetchedAt the caller observed).
func (c *jwksCache) refresh(ctx context.Context, seen time.Time) error {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	c.mu.RLock()
	already := c.fetchedAt.After(seen)
	c.mu.RUnlock()
	if already {
		return nil
	}
	keys, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	// A failed fetch also counts, so that an unreachable JWKS is not hammered.
	c.fetchedAt = c.now()
	if err != nil {
		return err
	}
	c.all = keys
	c.byKID = make(map[string]jwk, len(keys))
	for _, k := range keys {
		if k.kid != "" {
			c.byKID[k.kid] = k
		}
	}
	return nil
}

func (c *jwksCache) fetch(ctx context.Context) ([]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", c.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: HTTP %s", c.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read JWKS %s: %w", c.url, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", c.url, err)
	}
	return keys, nil
}

// parseJWKS decodes a JWKS document, keeping the RSA and P-256 signing keys and
// skipping the others (encryption keys, unknown curves, short RSA moduli).
func parseJWKS(data []byte) ([]jwk, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []jwk
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			if k.Alg != "" && k.Alg != "RS256" {
				continue
			}
			n, err1 := b64int(k.N)
			e, err2 := b64int(k.E)
			if err1 != nil || err2 != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 2048 {
				continue
			}
			out = append(out, jwk{kid: k.Kid, kty: "RSA", key: &rsa.PublicKey{N: n, E: int(e.Int64())}})
		case "EC":
			if k.Crv != "P-256" || (k.Alg != "" && k.Alg != "ES256") {
				continue
			}
			x, err1 := b64int(k.X)
			y, err2 := b64int(k.Y)
			if err1 != nil || err2 != nil {
				continue
			}
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
			if !onCurve(pub) {
				continue
			}
			out = append(out, jwk{kid: k.Kid, kty: "EC", key: pub})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no usable RS256 or ES256 signing key")
	}
	return out, nil
}

func onCurve(pub *ecdsa.PublicKey) bool {
	// ECDH conversion validates the point without the deprecated IsOnCurve.
	_, err := pub.ECDH()
	return err == nil
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}
