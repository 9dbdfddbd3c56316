package server

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// DevSignIn lets the inspector page sign in without a token when the server
// runs as a developer's own: on a loopback address with the secret it
// generated into its data directory. `grimoire serve` sets it only then
// (never with GRIMOIRE_JWT_SECRET, public keys or a JWKS configured, or on a
// non-loopback address); whoever can reach such a server can read that
// secret anyway.
type DevSignIn struct {
	// Secret signs the tokens (the generated one).
	Secret []byte
	// User is the subject of the tokens minted.
	User string
	// TTL of a minted token (default 1 hour).
	TTL time.Duration
}

func (d *DevSignIn) ttl() time.Duration {
	if d.TTL > 0 {
		return d.TTL
	}
	return time.Hour
}

type devSignInInfo struct {
	User string `json:"user"`
}

type devSignInToken struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// devSignInRoutes adds GET and POST /v1/dev/sign-in when the server has a
// DevSignIn; without one, both are the catch-all's 404.
func (s *Server) devSignInRoutes(mux *http.ServeMux) {
	d := s.opts.DevSignIn
	if d == nil {
		return
	}
	mux.HandleFunc("GET /v1/dev/sign-in", func(w http.ResponseWriter, r *http.Request) {
		if err := fromThisMachine(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, devSignInInfo{User: d.User})
	})
	mux.HandleFunc("POST /v1/dev/sign-in", func(w http.ResponseWriter, r *http.Request) {
		if err := fromThisMachine(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		ttl := d.ttl()
		tok, err := auth.Issue(d.Secret, d.User, nil, ttl)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, devSignInToken{Token: tok, User: d.User, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)})
	})
}

// fromThisMachine refuses a request that did not come from a loopback
// address, or that names another host (a DNS rebinding page reaching the
// server through a name of its own).
func fromThisMachine(r *http.Request) error {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !auth.LoopbackHost(peer) {
		return forbidden("development sign-in is only for this machine's browser")
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if !auth.LoopbackHost(host) {
		return forbidden(fmt.Sprintf("development sign-in answers only on a loopback address, not %q: open the page at http://127.0.0.1:PORT/", r.Host))
	}
	return nil
}
