// Package inspector serves the inspector and playground page that
// `grimoire serve` shows at / to a browser: the runs list, a run's graph and
// timeline, the spells. The page is built from inspector/ (TypeScript, at the
// repository root) into dist/, which is committed and embedded here, so
// that `go build` alone gives a binary that serves it; TestDistMatchesSources
// checks that dist/ is what the sources build to.
//
// It imports nothing of Grimoire's: the page speaks to the server over its
// public REST and Socket.IO API, with the TypeScript SDK.
package inspector
