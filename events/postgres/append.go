package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/services/postgres"
)

// Limits of one group commit.
const (
	maxBatchAppends = 512
	maxBatchEvents  = 4096
	maxBatchBytes   = 16 << 20
)

// appendReq is one Append waiting for the writer.
type appendReq struct {
	stream   string
	expected events.ExpectedRevision
	evs      []events.EventData
	size     int
	done     chan appendResp // buffered: the writer never blocks on it
}

type appendResp struct {
	res events.AppendResult
	err error
}

// Append implements events.Store. Appends are group-committed: one writer
// goroutine per Store takes every append waiting and commits them in one
// transaction (see commit), so that 64 concurrent appenders share a WAL
// flush instead of queueing for the log's one commit slot.
func (s *Store) Append(ctx context.Context, stream string, expected events.ExpectedRevision, evs ...events.EventData) (events.AppendResult, error) {
	if err := events.CheckStreamName(stream); err != nil {
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	req := &appendReq{stream: stream, expected: expected, evs: evs, done: make(chan appendResp, 1)}
	for i, ev := range evs {
		if ev.Type == "" {
			return events.AppendResult{}, fmt.Errorf("append to %q: event %d has no type", stream, i)
		}
		size := len(ev.Data) + len(ev.Metadata) + len(ev.Type) + len(ev.ID)
		if size > s.opts.MaxEventSize {
			return events.AppendResult{}, &events.EventTooLargeError{Stream: stream, Index: i, Size: size, Limit: s.opts.MaxEventSize}
		}
		req.size += size
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, ctx.Err())
	case <-s.closing:
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, events.ErrClosed)
	}
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		// The append may still commit; retrying it with the same IDs and
		// expected revision is idempotent.
		return events.AppendResult{}, fmt.Errorf("append to %q: outcome unknown: %w", stream, ctx.Err())
	}
}

// writeLoop is the group commit: it takes the appends waiting (at least
// one), commits them together and answers each, then starts over. Every
// append it takes is answered, also when the store closes.
func (s *Store) writeLoop() {
	defer s.bg.Done()
	var (
		carry *appendReq
		// answered is how many appends the previous commit answered, and
		// took how long it lasted: appenders that append again at once
		// (a run's recorder, the benchmark's writers) come back within
		// microseconds, and waiting for them makes the next group twice
		// as big instead of splitting the appenders into two groups that
		// take turns.
		answered  int
		took      time.Duration
		skipWaits int
	)
	for {
		batch := make([]*appendReq, 0, 16)
		if carry != nil {
			batch, carry = append(batch, carry), nil
		} else {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
			case <-s.closing:
				return
			}
		}
		evs, size := len(batch[0].evs), batch[0].size
		add := func(req *appendReq) bool {
			if evs+len(req.evs) > maxBatchEvents || size+req.size > maxBatchBytes {
				carry = req
				return false
			}
			batch = append(batch, req)
			evs, size = evs+len(req.evs), size+req.size
			return true
		}
	fill:
		for len(batch) < maxBatchAppends {
			select {
			case req := <-s.reqs:
				if !add(req) {
					break fill
				}
			default:
				break fill
			}
		}
		if carry == nil && answered > 1 && skipWaits == 0 {
			// Wait, at most as long as the last commit took, for the
			// appenders just answered.
			want := min(len(batch)+answered, maxBatchAppends)
			came := 0
			timer := time.NewTimer(min(took, maxGroupWait))
		wait:
			for len(batch) < want {
				select {
				case req := <-s.reqs:
					if !add(req) {
						break wait
					}
					came++
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
			if came < answered/2 {
				skipWaits = skipAfterMiss
			}
		} else if skipWaits > 0 {
			skipWaits--
		}
		start := time.Now()
		s.commit(batch)
		answered, took = len(batch), time.Since(start)
	}
}

// maxGroupWait caps writeLoop's wait for appenders to come back;
// skipAfterMiss is how many groups are committed without waiting after a
// wait in which most of the appenders expected did not come back (they
// were not appending in a loop).
const (
	maxGroupWait  = time.Millisecond
	skipAfterMiss = 8
)

// commit appends a batch in one transaction and answers every request:
//
//  1. transaction-level advisory locks on the batch's streams, in sorted
//     order (another process appending to one of them waits; two
//     processes never deadlock), and the streams' heads, in one round trip;
//  2. per request, in order: the idempotency check, the expected revision
//     (a mismatch fails that request only), the revisions and IDs;
//  3. the global positions, taken from the one-row log_head table with an
//     UPDATE that holds the row's lock until the transaction has committed
//     and become visible; the rows are inserted and the channel NOTIFYed in
//     the same statement;
//  4. COMMIT.
//
// Step 3 is why a reader never skips an event: see the package doc.
func (s *Store) commit(batch []*appendReq) {
	plans := make([]appendPlan, len(batch))
	rows, err := s.commitTx(s.ctx, batch, plans)
	if err == nil && len(rows) > 0 {
		// This process's subscribers need not wait for the NOTIFY's round
		// trip through the server; other processes' do.
		s.notify()
	}
	for i, req := range batch {
		p := &plans[i]
		switch {
		case err != nil && s.isClosed():
			req.done <- appendResp{err: fmt.Errorf("append to %q: %w", req.stream, events.ErrClosed)}
		case err != nil:
			// A failed COMMIT may have committed: retrying with the same
			// IDs and expected revision is idempotent.
			req.done <- appendResp{err: fmt.Errorf("append to %q: %w", req.stream, err)}
		case p.err != nil:
			req.done <- appendResp{err: p.err}
		default:
			req.done <- appendResp{res: p.result(rows)}
		}
	}
}

// commitTx runs commit's transaction on one connection, pipelined: BEGIN
// goes with the locks and heads, the INSERT with COMMIT, so that a group
// commit costs two round trips and its WAL flush.
func (s *Store) commitTx(ctx context.Context, batch []*appendReq, plans []appendPlan) (rows []eventRow, err error) {
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// Release closes a connection left inside a transaction.
	defer conn.Release()
	open := false
	defer func() {
		if err != nil && open {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	open = true
	if rows, err = s.plan(ctx, conn, batch, plans); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		_, err = conn.Exec(ctx, "COMMIT")
		return rows, err
	}
	if s.testHook != nil {
		// Tests hold the transaction open between the allocation and the
		// COMMIT; the statements are the same.
		base, at, err := s.insert(ctx, conn, rows)
		if err != nil {
			return nil, err
		}
		setPositions(rows, base, at)
		for _, req := range batch {
			s.testHook("allocated", req.stream)
		}
		_, err = conn.Exec(ctx, "COMMIT")
		return rows, err
	}
	var b postgres.Batch
	s.queueInsert(&b, rows)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, &b)
	var base int64
	var at time.Time
	if err := br.QueryRow().Scan(&base, &at); err != nil {
		br.Close()
		return nil, insertError(err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("commit: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	open = false
	setPositions(rows, uint64(base), at)
	return rows, nil
}

func setPositions(rows []eventRow, base uint64, at time.Time) {
	for i := range rows {
		rows[i].position, rows[i].at = base+uint64(i)+1, at
	}
}

// eventRow is one event to insert.
type eventRow struct {
	stream   string
	revision uint64
	id, typ  string
	version  int32
	data     []byte
	meta     []byte
	// Set once the positions are allocated.
	position uint64
	at       time.Time
}

// appendPlan is what commit decided for one request.
type appendPlan struct {
	err error
	// rows[first:first+n] are the request's new events.
	first, n int
	// For a retry or an empty append: the result, and the row holding its
	// last event when that event is in this batch (-1: res.Position set).
	res    events.AppendResult
	posRow int
}

func (p *appendPlan) result(rows []eventRow) events.AppendResult {
	if p.n == 0 {
		res := p.res
		if p.posRow >= 0 {
			res.Position = rows[p.posRow].position
		}
		return res
	}
	recs := make([]events.RecordedEvent, p.n)
	for i, r := range rows[p.first : p.first+p.n] {
		recs[i] = events.RecordedEvent{
			Stream: r.stream, Revision: r.revision, Position: r.position, ID: r.id, Type: r.typ,
			SchemaVersion: int(r.version), Data: r.data, Metadata: r.meta, Time: r.at,
		}
	}
	last := recs[p.n-1]
	return events.AppendResult{NextRevision: last.Revision, Position: last.Position, Recorded: recs}
}

// streamState is a stream's head during planning.
type streamState struct {
	last    uint64
	exists  bool
	dbLast  uint64 // the head in the database; later revisions are in rows
	dbExist bool
	rows    []int // indexes of this batch's rows of the stream, by revision
}

// plan locks the batch's streams, reads their heads and decides each
// request (step 1 and 2 of commit). It returns the rows to insert.
func (s *Store) plan(ctx context.Context, tx *postgres.Conn, batch []*appendReq, plans []appendPlan) ([]eventRow, error) {
	streams := make([]string, 0, len(batch))
	for _, req := range batch {
		streams = append(streams, req.stream)
	}
	slices.Sort(streams)
	streams = slices.Compact(streams)
	keys := make([]string, len(streams))
	for i, st := range streams {
		keys[i] = s.schema + "/" + st
	}
	var b postgres.Batch
	b.Queue("BEGIN")
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i`, keys)
	b.Queue(`SELECT u.stream, (SELECT revision FROM `+s.events+` WHERE stream = u.stream ORDER BY revision DESC LIMIT 1)
		FROM unnest($1::text[]) AS u(stream)`, streams)
	br := tx.SendBatch(ctx, &b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("lock streams: %w", err)
	}
	state := make(map[string]*streamState, len(streams))
	hrows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("read stream heads: %w", err)
	}
	for hrows.Next() {
		var stream string
		var rev *int64
		if err := hrows.Scan(&stream, &rev); err != nil {
			hrows.Close()
			br.Close()
			return nil, err
		}
		st := &streamState{}
		if rev != nil {
			st.last, st.exists = uint64(*rev), true
			st.dbLast, st.dbExist = st.last, true
		}
		state[stream] = st
	}
	hrows.Close()
	if err := hrows.Err(); err != nil {
		br.Close()
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, err
	}

	var rows []eventRow
	for i, req := range batch {
		st, p := state[req.stream], &plans[i]
		p.posRow = -1
		done, err := s.retried(ctx, tx, req, st, rows, p)
		if err != nil {
			return nil, err
		}
		if done {
			continue
		}
		if !req.expected.Check(st.last, st.exists) {
			p.err = &events.WrongRevisionError{Stream: req.stream, Expected: req.expected, ActualExists: st.exists, Actual: st.last}
			continue
		}
		if len(req.evs) == 0 {
			p.res.NextRevision = st.last
			if st.exists {
				if err := s.positionOf(ctx, tx, req.stream, st.last, st, p); err != nil {
					return nil, err
				}
			}
			continue
		}
		next := uint64(0)
		if st.exists {
			next = st.last + 1
		}
		p.first, p.n = len(rows), len(req.evs)
		for j, ev := range req.evs {
			rev := next + uint64(j)
			id := ev.ID
			if id == "" {
				id = events.DeterministicID(req.stream, rev, ev)
			}
			data := []byte(ev.Data)
			if data == nil {
				data = []byte{}
			}
			var meta []byte
			if len(ev.Metadata) > 0 {
				meta = ev.Metadata
			}
			st.rows = append(st.rows, len(rows))
			rows = append(rows, eventRow{stream: req.stream, revision: rev, id: id, typ: ev.Type,
				version: int32(schemaVersion(ev.SchemaVersion)), data: data, meta: meta})
		}
		st.last, st.exists = next+uint64(len(req.evs))-1, true
	}
	return rows, nil
}

// positionOf sets p's result position to that of stream's event at rev:
// from this batch's rows, or read from the database.
func (s *Store) positionOf(ctx context.Context, tx *postgres.Conn, stream string, rev uint64, st *streamState, p *appendPlan) error {
	if st.dbExist && rev <= st.dbLast || !st.dbExist && len(st.rows) == 0 {
		var pos int64
		if err := tx.QueryRow(ctx, `SELECT position FROM `+s.events+` WHERE stream = $1 AND revision = $2`, stream, clamp(rev)).Scan(&pos); err != nil {
			return fmt.Errorf("position of %s@%d: %w", stream, rev, err)
		}
		p.res.Position = uint64(pos)
		return nil
	}
	first := uint64(0)
	if st.dbExist {
		first = st.dbLast + 1
	}
	p.posRow = st.rows[rev-first]
	return nil
}

// retried reports whether req's events already sit in the stream where
// req would put them (a retry of an append that succeeded, in the database
// or earlier in this batch), as the embedded store decides it, and sets
// p's result if so.
func (s *Store) retried(ctx context.Context, tx *postgres.Conn, req *appendReq, st *streamState, rows []eventRow, p *appendPlan) (bool, error) {
	k := uint64(len(req.evs))
	if k == 0 || !st.exists {
		return false, nil
	}
	var start uint64
	switch rev, exact := req.expected.Revision(); {
	case req.expected.IsNoStream():
		start = 0
	case req.expected.IsAny():
		if st.last+1 < k {
			return false, nil
		}
		start = st.last + 1 - k
	case exact:
		start = rev + 1
	default:
		return false, nil
	}
	if start+k-1 > st.last {
		return false, nil
	}
	// The IDs at revisions start…start+k-1: first those in the database,
	// then those of this batch.
	ids := make(map[uint64]string, k)
	var lastPos int64
	if st.dbExist && start <= st.dbLast {
		dbRows, err := tx.Query(ctx, `SELECT revision, position, id FROM `+s.events+` WHERE stream = $1 AND revision >= $2 AND revision < $3`,
			req.stream, clamp(start), clamp(start+k))
		if err != nil {
			return false, err
		}
		for dbRows.Next() {
			var rev, pos int64
			var id string
			if err := dbRows.Scan(&rev, &pos, &id); err != nil {
				dbRows.Close()
				return false, err
			}
			ids[uint64(rev)] = id
			if uint64(rev) == start+k-1 {
				lastPos = pos
			}
		}
		dbRows.Close()
		if err := dbRows.Err(); err != nil {
			return false, err
		}
	}
	for _, ri := range st.rows {
		if r := rows[ri]; r.revision >= start && r.revision < start+k {
			ids[r.revision] = r.id
		}
	}
	for i, ev := range req.evs {
		rev := start + uint64(i)
		want := ev.ID
		if want == "" {
			want = events.DeterministicID(req.stream, rev, ev)
		}
		if got, ok := ids[rev]; !ok || got != want {
			return false, nil
		}
	}
	p.res.NextRevision = start + k - 1
	if lastPos != 0 {
		p.res.Position = uint64(lastPos)
	} else if err := s.positionOf(ctx, tx, req.stream, start+k-1, st, p); err != nil {
		return false, err
	}
	return true, nil
}

const insertSQL = `
		WITH alloc AS (
			UPDATE %s SET last_position = last_position + $1
			RETURNING last_position - $1 AS base, clock_timestamp() AS at
		), ins AS (
			INSERT INTO %s (position, stream, revision, id, type, schema_version, data, metadata, created)
			SELECT alloc.base + e.ord, e.stream, e.revision, e.id, e.type, e.sv, e.data, e.md, alloc.at
			FROM alloc, unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::bytea[], $8::bytea[])
				WITH ORDINALITY AS e(stream, revision, id, type, sv, data, md, ord)
		)
		SELECT alloc.base, alloc.at FROM alloc, (SELECT pg_notify($9, '')) AS notified`

// insertArgs are the arguments of insertSQL for rows.
func (s *Store) insertArgs(rows []eventRow) []any {
	n := len(rows)
	streams := make([]string, n)
	revs := make([]int64, n)
	ids := make([]string, n)
	types := make([]string, n)
	versions := make([]int32, n)
	data := make([][]byte, n)
	meta := make([][]byte, n)
	for i, r := range rows {
		streams[i], revs[i], ids[i], types[i], versions[i], data[i], meta[i] = r.stream, clamp(r.revision), r.id, r.typ, r.version, r.data, r.meta
	}
	return []any{n, streams, revs, ids, types, versions, data, meta, s.channel}
}

// queueInsert queues step 3 of commit: the UPDATE of log_head allocates
// len(rows) global positions after the log's head, taking the row lock
// that orders commits (nothing slow may run between it and COMMIT), and
// the rows are inserted there. The statement returns the position before
// the first row and the rows' commit timestamp.
func (s *Store) queueInsert(b *postgres.Batch, rows []eventRow) {
	b.Queue(fmt.Sprintf(insertSQL, s.head, s.events), s.insertArgs(rows)...)
}

// insert runs queueInsert's statement on its own.
func (s *Store) insert(ctx context.Context, conn *postgres.Conn, rows []eventRow) (uint64, time.Time, error) {
	var base int64
	var at time.Time
	if err := conn.QueryRow(ctx, fmt.Sprintf(insertSQL, s.head, s.events), s.insertArgs(rows)...).Scan(&base, &at); err != nil {
		return 0, time.Time{}, insertError(err)
	}
	return uint64(base), at, nil
}

func insertError(err error) error {
	if postgres.SQLState(err) == postgres.UniqueViolation {
		// Only a writer that bypassed the stream locks can cause this.
		return fmt.Errorf("insert events: %w (another writer appended to these streams without the store's locks)", err)
	}
	return fmt.Errorf("insert events: %w", err)
}
