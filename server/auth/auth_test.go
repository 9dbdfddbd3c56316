package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	secret      = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	now         = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

var keysOnce = sync.OnceValues(func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return r, e
})

func pubPEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func base(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "roles": []string{"analyst"}}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func TestVerify(t *testing.T) {
	rsaKey, ecKey := keysOnce()
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, base(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	hsOpts := VerifierOptions{HS256Secret: secret}
	pkOpts := VerifierOptions{PublicKeysPEM: [][]byte{pubPEM(t, &rsaKey.PublicKey), pubPEM(t, &ecKey.PublicKey)}}
	strict := VerifierOptions{HS256Secret: secret, Issuer: "grimoire", Audience: "editor"}

	tests := []struct {
		name    string
		opts    VerifierOptions
		token   string
		wantErr error
		want    Identity
	}{
		{"valid HS256", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(nil), ""), nil,
			Identity{User: "alice", Roles: []string{"analyst"}, Expires: now.Add(time.Hour)}},
		{"empty", hsOpts, "", ErrNoToken, Identity{}},
		{"expired", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"exp": now.Add(-time.Second).Unix()}), ""), ErrTokenExpired, Identity{}},
		{"missing exp", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"exp": nil}), ""), ErrTokenInvalid, Identity{}},
		{"missing sub", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"sub": nil}), ""), ErrTokenInvalid, Identity{}},
		{"wrong key", hsOpts, sign(t, jwt.SigningMethodHS256, otherSecret, base(nil), ""), ErrTokenInvalid, Identity{}},
		{"alg none", hsOpts, none, ErrTokenInvalid, Identity{}},
		{"HS512 not allowed", hsOpts, sign(t, jwt.SigningMethodHS512, secret, base(nil), ""), ErrTokenInvalid, Identity{}},
		{"not before", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"nbf": now.Add(time.Minute).Unix()}), ""), ErrTokenInvalid, Identity{}},
		{"garbage", hsOpts, "not.a.token", ErrTokenInvalid, Identity{}},
		// NumericDates only: a string exp or nbf is a malformed token.
		{"exp as a string", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"exp": fmt.Sprint(now.Add(time.Hour).Unix())}), ""), ErrTokenInvalid, Identity{}},
		{"nbf as a string", hsOpts, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"nbf": "0"}), ""), ErrTokenInvalid, Identity{}},
		{"issuer and audience ok", strict, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"iss": "grimoire", "aud": []string{"editor", "x"}}), ""), nil,
			Identity{User: "alice", Roles: []string{"analyst"}, Expires: now.Add(time.Hour)}},
		{"wrong issuer", strict, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"iss": "evil", "aud": "editor"}), ""), ErrTokenInvalid, Identity{}},
		{"missing issuer", strict, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"aud": "editor"}), ""), ErrTokenInvalid, Identity{}},
		{"wrong audience", strict, sign(t, jwt.SigningMethodHS256, secret, base(map[string]any{"iss": "grimoire", "aud": "billing"}), ""), ErrTokenInvalid, Identity{}},
		{"RS256", pkOpts, sign(t, jwt.SigningMethodRS256, rsaKey, base(nil), ""), nil,
			Identity{User: "alice", Roles: []string{"analyst"}, Expires: now.Add(time.Hour)}},
		{"ES256", pkOpts, sign(t, jwt.SigningMethodES256, ecKey, base(map[string]any{"roles": nil}), ""), nil,
			Identity{User: "alice", Expires: now.Add(time.Hour)}},
		{"RS256 other key", pkOpts, sign(t, jwt.SigningMethodRS256, otherRSA, base(nil), ""), ErrTokenInvalid, Identity{}},
		// Algorithm confusion: an HS256 token "signed" with the RSA public key
		// bytes must not verify when only public keys are configured.
		{"HS256 with public key as secret", pkOpts, sign(t, jwt.SigningMethodHS256, pubPEM(t, &rsaKey.PublicKey), base(nil), ""), ErrTokenInvalid, Identity{}},
		{"HS256 on a public-key verifier", pkOpts, sign(t, jwt.SigningMethodHS256, secret, base(nil), ""), ErrTokenInvalid, Identity{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = func() time.Time { return now }
			v, err := NewVerifier(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), tc.token)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.User != tc.want.User || !slices.Equal(got.Roles, tc.want.Roles) || !got.Expires.Equal(tc.want.Expires) {
				t.Fatalf("identity = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewVerifierRejectsWeakConfig(t *testing.T) {
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, opts := range map[string]VerifierOptions{
		"nothing":      {},
		"short secret": {HS256Secret: []byte("short")},
		"1024-bit RSA": {PublicKeysPEM: [][]byte{pubPEM(t, &weakRSA.PublicKey)}},
		"P-384":        {PublicKeysPEM: [][]byte{pubPEM(t, &p384.PublicKey)}},
		"not PEM":      {PublicKeysPEM: [][]byte{[]byte("hello")}},
	} {
		if _, err := NewVerifier(opts); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
}

func jwksDoc(rsaPub *rsa.PublicKey, rsaKID string, ecPub *ecdsa.PublicKey, ecKID string) []byte {
	b := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	var keys []map[string]string
	if rsaPub != nil {
		keys = append(keys, map[string]string{"kty": "RSA", "kid": rsaKID, "use": "sig", "alg": "RS256", "n": b(rsaPub.N), "e": b(big.NewInt(int64(rsaPub.E)))})
	}
	if ecPub != nil {
		keys = append(keys, map[string]string{"kty": "EC", "kid": ecKID, "crv": "P-256", "x": b(ecPub.X), "y": b(ecPub.Y)})
	}
	keys = append(keys, map[string]string{"kty": "oct", "kid": "ignored", "k": "c2VjcmV0"})
	out, _ := json.Marshal(map[string]any{"keys": keys})
	return out
}

func TestVerifyJWKS(t *testing.T) {
	rsaKey, ecKey := keysOnce()
	rotated, _ := rsa.GenerateKey(rand.Reader, 2048)

	var mu sync.Mutex
	doc := jwksDoc(&rsaKey.PublicKey, "r1", &ecKey.PublicKey, "e1")
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	defer srv.Close()

	clock := now
	var clockMu sync.Mutex
	v, err := NewVerifier(VerifierOptions{JWKSURL: srv.URL, JWKSMinRefresh: time.Minute, Now: func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	verify := func(tok string) error { _, err := v.Verify(ctx, tok); return err }

	if err := verify(sign(t, jwt.SigningMethodRS256, rsaKey, base(nil), "r1")); err != nil {
		t.Fatalf("RS256 via JWKS: %v", err)
	}
	if err := verify(sign(t, jwt.SigningMethodES256, ecKey, base(nil), "e1")); err != nil {
		t.Fatalf("ES256 via JWKS: %v", err)
	}
	if err := verify(sign(t, jwt.SigningMethodRS256, rsaKey, base(nil), "")); err != nil {
		t.Fatalf("RS256 without kid via JWKS: %v", err)
	}
	if got := fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times for known keys, want 1 (cached)", got)
	}
	// An ES key id used with RS256 is refused.
	if err := verify(sign(t, jwt.SigningMethodRS256, rsaKey, base(nil), "e1")); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("kid of another key type: %v", err)
	}

	// Key rotation: the provider publishes r2; the first token naming it
	// refreshes the cache once the minimum refresh interval has passed.
	mu.Lock()
	doc = jwksDoc(&rotated.PublicKey, "r2", nil, "")
	mu.Unlock()
	rotatedTok := sign(t, jwt.SigningMethodRS256, rotated, base(nil), "r2")
	clockMu.Lock()
	clock = clock.Add(2 * time.Minute)
	clockMu.Unlock()
	if err := verify(rotatedTok); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	before := fetches.Load()
	// Unknown kids do not refetch within the minimum interval.
	for i := 0; i < 5; i++ {
		if err := verify(sign(t, jwt.SigningMethodRS256, rotated, base(nil), "forged")); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if got := fetches.Load(); got != before {
		t.Fatalf("unknown kids caused %d refetches within the minimum interval", got-before)
	}
}

func TestIssueRoundTrip(t *testing.T) {
	tok, err := Issue(secret, "bob", []string{"admin"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "bob" || !id.HasRole("admin") || id.HasRole("analyst") || time.Until(id.Expires) < 59*time.Minute {
		t.Fatalf("identity %+v", id)
	}
	for name, f := range map[string]func() (string, error){
		"no ttl":       func() (string, error) { return Issue(secret, "bob", nil, 0) },
		"no user":      func() (string, error) { return Issue(secret, "", nil, time.Hour) },
		"short secret": func() (string, error) { return Issue([]byte("x"), "bob", nil, time.Hour) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: Issue accepted it", name)
		}
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Run("generated once and reused", func(t *testing.T) {
		t.Setenv(SecretEnv, "")
		dir := filepath.Join(t.TempDir(), "data")
		s1, err := LoadOrCreateSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, SecretFile))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("secret file mode %o, want 600", st.Mode().Perm())
		}
		s2, err := LoadOrCreateSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		if string(s1) != string(s2) || len(s1) < MinSecretBytes {
			t.Fatalf("secret changed or too short: %q vs %q", s1, s2)
		}
		// token create and serve agree.
		tok, err := Issue(s1, "carol", nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := NewVerifier(VerifierOptions{HS256Secret: s2})
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("environment wins", func(t *testing.T) {
		t.Setenv(SecretEnv, string(otherSecret))
		got, err := LoadOrCreateSecret(t.TempDir())
		if err != nil || string(got) != string(otherSecret) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("short environment secret refused", func(t *testing.T) {
		t.Setenv(SecretEnv, "tiny")
		if _, err := LoadOrCreateSecret(t.TempDir()); err == nil {
			t.Fatal("accepted a 4-byte secret")
		}
	})
	t.Run("readable by others refused", func(t *testing.T) {
		t.Setenv(SecretEnv, "")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SecretFile), secret, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, SecretFile), 0o644)
		if _, err := LoadOrCreateSecret(dir); err == nil {
			t.Fatal("accepted a world-readable secret file")
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	rsaKey, ecKey := keysOnce()
	f.Add(jwksDoc(&rsaKey.PublicKey, "r", &ecKey.PublicKey, "e"))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no keys")
		}
	})
}

func FuzzVerify(f *testing.F) {
	v, err := NewVerifier(VerifierOptions{HS256Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(f, jwt.SigningMethodHS256, secret, base(nil), ""))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(context.Background(), tok)
		if err == nil && id.User == "" {
			t.Fatal("verified a token without a user")
		}
	})
}
