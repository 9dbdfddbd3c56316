//go:build !unix

package vectorindex

// lockDir is a no-op where flock is not available: do not open one
// directory from two processes there.
func lockDir(dir string) (release func() error, err error) {
	return func() error { return nil }, nil
}
