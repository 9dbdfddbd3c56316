// Package enginecompare holds, in test code only, the storage engines that
// were measured against the embedded store's Pebble engine and not chosen
// (bbolt), so that docs/decisions/0001-embedded-event-store.md can be
// reproduced:
//
//	go test -run '^$' -bench . -benchtime 20000x ./events/embedded/enginecompare/
//
// It is the only package that imports go.etcd.io/bbolt. Nothing imports it.
package enginecompare
