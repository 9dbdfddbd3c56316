package postgres

// SetTestHook installs fn to run inside appends' transactions (see
// Store.testHook). Set it before the store is used concurrently.
func SetTestHook(s *Store, fn func(point, stream string)) { s.testHook = fn }
