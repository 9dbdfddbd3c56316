package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issue signs an HS256 token for user with roles, valid for ttl. It is what
// `grimoire token create` prints.
func Issue(secret []byte, user string, roles []string, ttl time.Duration) (string, error) {
	return IssueAt(secret, user, roles, time.Now(), ttl)
}

// IssueAt is Issue with an explicit issue time (tests, tooling).
func IssueAt(secret []byte, user string, roles []string, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("issue token: secret is %d bytes, need at least %d", len(secret), MinSecretBytes)
	}
	if user == "" {
		return "", errors.New("issue token: empty user")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("issue token: ttl %v must be positive (tokens always expire)", ttl)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: roles,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("issue token for %q: %w", user, err)
	}
	return s, nil
}
