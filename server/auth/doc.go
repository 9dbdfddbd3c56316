// Package auth turns bearer tokens (JWT) into an Identity and issues tokens
// for `grimoire token create`.
//
// It is the only package of Grimoire that imports github.com/golang-jwt/jwt;
// everything else speaks Identity and Verify. It must not import any other
// package of this module (server/socket, graph, events, …): it is a leaf.
//
// Verification is strict by construction: the accepted algorithms are exactly
// those for which a key is configured (jwt.WithValidMethods, so `alg: none`
// and algorithm confusion are refused), `exp` is required, and `iss`/`aud` are
// checked when configured.
package auth
