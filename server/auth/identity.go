package auth

import (
	"errors"
	"slices"
	"time"
)

// Identity is who a verified token speaks for.
type Identity struct {
	// User is the token's `sub` claim.
	User string
	// Roles is the token's `roles` claim (for example "analyst", "admin").
	Roles []string
	// Expires is the token's `exp` claim; a connection authenticated with the
	// token must end by then.
	Expires time.Time
}

// HasRole reports whether the identity carries role.
func (i Identity) HasRole(role string) bool { return slices.Contains(i.Roles, role) }

// Errors returned (wrapped) by Verify; branch with errors.Is.
var (
	// ErrNoToken: the request carried no token at all.
	ErrNoToken = errors.New("no token")
	// ErrTokenExpired: the token was valid but its `exp` has passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenInvalid: anything else (bad signature, wrong algorithm, missing
	// exp or sub, wrong issuer or audience, malformed).
	ErrTokenInvalid = errors.New("token invalid")
)
