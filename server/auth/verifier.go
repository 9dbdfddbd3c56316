package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VerifierOptions configures a Verifier. At least one key source must be set;
// several may be combined (for example an HS256 secret for `grimoire token
// create` tokens and a JWKS URL for an identity provider).
type VerifierOptions struct {
	// HS256Secret enables HS256 with this shared secret (at least 32 bytes).
	HS256Secret []byte
	// PublicKeysPEM enables RS256 and/or ES256 (P-256) with these public keys:
	// PEM blocks of type "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE".
	PublicKeysPEM [][]byte
	// JWKSURL enables RS256/ES256 keys fetched from a JWKS document. The keys
	// are cached; a token whose `kid` is unknown triggers a refresh (at most
	// once per JWKSMinRefresh).
	JWKSURL string
	// JWKSMinRefresh bounds how often an unknown kid may refetch the JWKS.
	// Default 30s.
	JWKSMinRefresh time.Duration
	// JWKSMaxAge refetches the JWKS on use after this long. Default 1h.
	JWKSMaxAge time.Duration
	// HTTPClient fetches the JWKS. Default: a client with a 10s timeout.
	HTTPClient *http.Client

	// Issuer, when set, must equal the token's `iss`.
	Issuer string
	// Audience, when set, must be one of the token's `aud`.
	Audience string
	// Leeway tolerates clock skew on exp/nbf/iat. Default 0.
	Leeway time.Duration
	// Now replaces the clock (tests). Default time.Now.
	Now func() time.Time
}

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	opts    VerifierOptions
	hmac    []byte
	rsaKeys []*rsa.PublicKey
	ecKeys  []*ecdsa.PublicKey
	jwks    *jwksCache
	methods []string
	parser  *jwt.Parser
}

// NewVerifier validates opts and returns a Verifier.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Verifier{opts: opts}
	if len(opts.HS256Secret) > 0 {
		if len(opts.HS256Secret) < MinSecretBytes {
			return nil, fmt.Errorf("HS256 secret is %d bytes: use at least %d (for example `openssl rand -hex 32`)", len(opts.HS256Secret), MinSecretBytes)
		}
		v.hmac = opts.HS256Secret
	}
	for i, p := range opts.PublicKeysPEM {
		key, err := parsePublicKeyPEM(p)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			v.rsaKeys = append(v.rsaKeys, k)
		case *ecdsa.PublicKey:
			v.ecKeys = append(v.ecKeys, k)
		}
	}
	if opts.JWKSURL != "" {
		v.jwks = newJWKSCache(opts)
	}
	if v.hmac != nil {
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if len(v.rsaKeys) > 0 || v.jwks != nil {
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg())
	}
	if len(v.ecKeys) > 0 || v.jwks != nil {
		v.methods = append(v.methods, jwt.SigningMethodES256.Alg())
	}
	if len(v.methods) == 0 {
		return nil, errors.New("no token key configured: set an HS256 secret, public keys (PEM) or a JWKS URL")
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	v.parser = jwt.NewParser(popts...)
	return v, nil
}

// claims is the token body we read.
type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// UnmarshalJSON refuses time claims that are not JSON numbers: RFC 7519
// makes exp, nbf and iat NumericDates, and a string such as "exp":"9999999999"
// (which a lenient decoder reads as a number) is a malformed token.
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		v, ok := raw[k]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
			return fmt.Errorf("claim %q must be a number of seconds (a NumericDate), not %s", k, v)
		}
	}
	type plain claims
	return json.Unmarshal(b, (*plain)(c))
}

// Verify checks token and returns its Identity. Errors wrap ErrNoToken,
// ErrTokenExpired or ErrTokenInvalid.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Identity{}, ErrNoToken
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Identity{}, fmt.Errorf("%w: %v", ErrTokenExpired, err)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if c.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no sub claim", ErrTokenInvalid)
	}
	return Identity{User: c.Subject, Roles: c.Roles, Expires: c.ExpiresAt.Time}, nil
}

// keyFor picks the verification keys for the token's algorithm. WithValidMethods
// has already refused any algorithm we have no key for.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		return v.hmac, nil
	case *jwt.SigningMethodRSA:
		set := jwt.VerificationKeySet{}
		if kid == "" || v.jwks == nil {
			for _, k := range v.rsaKeys {
				set.Keys = append(set.Keys, k)
			}
		}
		if v.jwks != nil {
			keys, err := v.jwks.keys(ctx, kid, "RSA")
			if err != nil && len(set.Keys) == 0 {
				return nil, err
			}
			for _, k := range keys {
				set.Keys = append(set.Keys, k)
			}
		}
		return oneOrSet(set)
	case *jwt.SigningMethodECDSA:
		set := jwt.VerificationKeySet{}
		if kid == "" || v.jwks == nil {
			for _, k := range v.ecKeys {
				set.Keys = append(set.Keys, k)
			}
		}
		if v.jwks != nil {
			keys, err := v.jwks.keys(ctx, kid, "EC")
			if err != nil && len(set.Keys) == 0 {
				return nil, err
			}
			for _, k := range keys {
				set.Keys = append(set.Keys, k)
			}
		}
		return oneOrSet(set)
	}
	return nil, fmt.Errorf("unsupported signing method %q", t.Method.Alg())
}

func oneOrSet(set jwt.VerificationKeySet) (any, error) {
	switch len(set.Keys) {
	case 0:
		return nil, errors.New("no key matches the token")
	case 1:
		return set.Keys[0], nil
	}
	return set, nil
}

func parsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key is %d bits: use at least 2048", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("EC key on curve %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", key)
}
