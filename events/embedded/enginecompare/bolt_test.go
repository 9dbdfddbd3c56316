package enginecompare

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// boltEngine: bucket "all" pos -> record, bucket "streams" stream 0 rev -> pos.
type boltEngine struct{ db *bolt.DB }

var (
	bucketAll     = []byte("all")
	bucketStreams = []byte("streams")
)

func openBolt(path string) (embedded.Engine, error) {
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAll, bucketStreams} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	return &boltEngine{db: db}, err
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func streamKey(s string, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(s), 0), rev)
}

func (e *boltEngine) Head(stream string) (r events.RecordedEvent, ok bool, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketStreams).Cursor()
		prefix := append([]byte(stream), 0)
		k, v := c.Seek(append([]byte(stream), 1))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return nil
		}
		r, err = embedded.DecodeRecord(tx.Bucket(bucketAll).Get(v))
		ok = err == nil
		return err
	})
	return r, ok, err
}

func (e *boltEngine) LastPosition() (p uint64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketAll).Cursor().Last(); k != nil {
			p = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return p, err
}

func (e *boltEngine) Commit(recs []events.RecordedEvent) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		all, streams := tx.Bucket(bucketAll), tx.Bucket(bucketStreams)
		all.FillPercent = 1.0 // append-only keys
		for i := range recs {
			r := &recs[i]
			if err := all.Put(u64(r.Position), embedded.EncodeRecord(nil, r)); err != nil {
				return err
			}
			if err := streams.Put(streamKey(r.Stream, r.Revision), u64(r.Position)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) ReadStream(stream string, from uint64, dir events.Direction, max int) (out []events.RecordedEvent, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketStreams).Cursor()
		all := tx.Bucket(bucketAll)
		prefix := append([]byte(stream), 0)
		var k, v []byte
		if dir == events.Backwards {
			if from == events.End {
				k, v = c.Seek(append([]byte(stream), 1))
			} else {
				k, v = c.Seek(streamKey(stream, from+1))
			}
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Seek(streamKey(stream, from))
		}
		for k != nil && bytes.HasPrefix(k, prefix) {
			r, err := embedded.DecodeRecord(all.Get(v))
			if err != nil {
				return err
			}
			out = append(out, r)
			if max > 0 && len(out) >= max {
				break
			}
			if dir == events.Backwards {
				k, v = c.Prev()
			} else {
				k, v = c.Next()
			}
		}
		return nil
	})
	return out, err
}

func (e *boltEngine) ReadAll(from uint64, max int) (out []events.RecordedEvent, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAll).Cursor()
		for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
			r, err := embedded.DecodeRecord(v)
			if err != nil {
				return err
			}
			out = append(out, r)
			if max > 0 && len(out) >= max {
				break
			}
		}
		return nil
	})
	return out, err
}

func (e *boltEngine) Close() error { return e.db.Close() }

func openBoltStore(tb testing.TB) *embedded.Store {
	eng, err := openBolt(filepath.Join(tb.TempDir(), "log.bolt"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := embedded.Open(embedded.Options{Engine: eng, MaxEventSize: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestBoltContract keeps the comparison honest: the candidate passes the
// same contract as the chosen engine.
func TestBoltContract(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: 1 << 20}, func(t *testing.T) events.Store {
		return openBoltStore(t)
	})
}

func BenchmarkBoltAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openBoltStore(b)
			defer s.Close()
			storetest.MeasureAppends(b, writers, 1024, storetest.StoreAppender(s, "run-bench-"))
		})
	}
}
