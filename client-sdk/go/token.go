package grimoire

import (
	"fmt"
	"os"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// IssueToken signs an HS256 token for user with roles, valid for ttl, with
// the server's secret: the token `grimoire token create` prints. Use it in
// tests and tools that hold the secret; other callers get a token from
// whoever runs the server.
func IssueToken(secret []byte, user string, roles []string, ttl time.Duration) (string, error) {
	tok, err := auth.Issue(secret, user, roles, ttl)
	if err != nil {
		return "", fmt.Errorf("grimoire: %w", err)
	}
	return tok, nil
}

// IssueTokenFromEnv is IssueToken with the secret from
// GRIMOIRE_JWT_SECRET, as the server reads it.
func IssueTokenFromEnv(user string, roles []string, ttl time.Duration) (string, error) {
	secret := os.Getenv(auth.SecretEnv)
	if secret == "" {
		return "", fmt.Errorf("grimoire: %s is not set: set it to the server's secret, or run `grimoire token create --user %s`", auth.SecretEnv, user)
	}
	return IssueToken([]byte(secret), user, roles, ttl)
}
