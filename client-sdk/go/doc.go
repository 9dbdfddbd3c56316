// Package grimoire is the Go client for a Grimoire server's REST API: it
// saves and loads spells, runs them synchronously, asynchronously or as a
// live stream of node events (Server-Sent Events), reads and follows a
// run's recorded events, cancels runs, and folds a run's history back into
// per-node results (replay) without calling any model.
//
//	c, _ := grimoire.New("http://127.0.0.1:8080", grimoire.WithToken(tok))
//	res, err := c.Run(ctx, "hello", map[string]any{"name": "Ada"})
//
// Errors the server answers are *APIError values; branch on them with
// errors.Is (ErrUnauthorized, ErrNotFound, ...). A run that failed or was
// cancelled is a *RunError (ErrRunFailed, ErrRunCancelled).
//
// The package speaks HTTP only, with the standard library. It must not
// import the server's packages (server, server/protocol, events, graph):
// a caller of the API should not link the server. The one exception is the
// token helper, which uses server/auth, a leaf package, so that tokens are
// signed exactly as `grimoire token create` signs them.
package grimoire
