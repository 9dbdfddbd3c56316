package main

import (
	"testing"

	"github.com/grimoire-run/grimoire/server/auth"
)

// The inspector's "sign in as …" exists only on a developer's own server:
// loopback, the generated secret, no other key.
func TestDevSignInOnlyOnADevelopmentServer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		addr   string
		secret string
		env    map[string]string
		want   string // the user signed in as; "" for no sign-in
	}{
		{name: "loopback with the generated secret", addr: "127.0.0.1:8080", want: "cli"},
		{name: "localhost, GRIMOIRE_USER", addr: "localhost:0", env: map[string]string{envCLIUser: "ada"}, want: "ada"},
		{name: "IPv6 loopback", addr: "[::1]:8080", want: "cli"},
		{name: "every interface", addr: ":8080"},
		{name: "a public address", addr: "0.0.0.0:8080"},
		{name: "a LAN address", addr: "192.168.1.20:8080"},
		{name: "a configured secret", addr: "127.0.0.1:8080", secret: "0123456789abcdef0123456789abcdef"},
		{name: "public keys", addr: "127.0.0.1:8080", env: map[string]string{envJWTPublicKeys: "/etc/keys/a.pem"}},
		{name: "a JWKS", addr: "127.0.0.1:8080", env: map[string]string{envJWKSURL: "https://id.example/jwks.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(auth.SecretEnv, tc.secret)
			env := &cliEnv{getenv: func(k string) string { return tc.env[k] }}
			d, err := devSignIn(env, t.TempDir(), tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && d != nil:
				t.Fatalf("sign-in as %q offered", d.User)
			case tc.want != "" && d == nil:
				t.Fatal("no sign-in offered")
			case d != nil && (d.User != tc.want || len(d.Secret) < auth.MinSecretBytes):
				t.Fatalf("sign-in as %q with a %d-byte secret, want %q with the generated one", d.User, len(d.Secret), tc.want)
			}
		})
	}
}
