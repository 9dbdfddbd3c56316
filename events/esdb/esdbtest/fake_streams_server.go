package esdbtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultMaxAppendSize is EventStoreDB's default MaxAppendSize: 1 MiB.
const DefaultMaxAppendSize = 1 << 20

// ServerVersion is what the double reports through ServerFeatures.
const ServerVersion = "24.10.0"

// Options configures a FakeStreamsServer. The zero value behaves like a
// default single-node EventStoreDB 24.10.
type Options struct {
	// MaxAppendSize caps the summed size of one append's events (data,
	// custom metadata and type), like the server's MaxAppendSize. 0 means
	// DefaultMaxAppendSize.
	MaxAppendSize int
	// LegacyWrongExpectedVersion reports conflicts as EventStoreDB 20.6 did:
	// a FailedPrecondition status whose message carries the details, instead
	// of the typed AppendResp.WrongExpectedVersion. Clients see them untyped.
	LegacyWrongExpectedVersion bool
	// Addr is the loopback address to listen on; "" picks a free port.
	Addr string
}

// FakeStreamsServer is an in-memory EventStoreDB test double speaking real
// gRPC. Start one with Start or StartT.
type FakeStreamsServer struct {
	opts Options

	mu       sync.Mutex
	addr     string
	srv      *grpc.Server
	running  bool
	log      []*record
	streams  map[string][]*record
	nextPos  uint64
	changed  chan struct{} // closed and replaced on every append
	drop     chan struct{} // closed and replaced by DropSubscriptions
	injected int           // reads that start with a message v4.1.0 does not know
	appends  int
	subsOpen int
}

type record struct {
	stream      string
	revision    uint64
	position    uint64 // commit == prepare, as for every event written over gRPC
	id          uuid.UUID
	eventType   string
	contentType string
	data        []byte
	meta        []byte
	created     int64 // .NET ticks since the Unix epoch, as the server sends them
}

// Start starts a FakeStreamsServer on a loopback port.
func Start(opts Options) (*FakeStreamsServer, error) {
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = DefaultMaxAppendSize
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := &FakeStreamsServer{
		opts:    opts,
		streams: make(map[string][]*record),
		changed: make(chan struct{}),
		drop:    make(chan struct{}),
	}
	// A real database never starts empty: $all begins with system events,
	// which clients must skip.
	s.appendLocked("$stats-127.0.0.1:2113", []*record{{
		id: uuid.New(), eventType: "$statsCollected", contentType: "application/json",
		data: []byte(`{"proc-startTime":"2024-01-01T00:00:00Z"}`),
	}})
	if err := s.listen(opts.Addr); err != nil {
		return nil, err
	}
	return s, nil
}

// StartT starts a FakeStreamsServer and stops it when the test ends.
func StartT(tb testing.TB, opts Options) *FakeStreamsServer {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("start EventStoreDB test double: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func (s *FakeStreamsServer) listen(addr string) error {
	var lis net.Listener
	var err error
	// The port of a server that just stopped can take a moment to free up.
	for i := 0; i < 50; i++ {
		lis, err = net.Listen("tcp", addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	api.RegisterStreamsServer(srv, streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(srv, featuresService{})
	s.mu.Lock()
	s.addr = lis.Addr().String()
	s.srv = srv
	s.running = true
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// Addr is the host:port the server listens on (kept across Restart).
func (s *FakeStreamsServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is a connection string for the server, with connection discovery
// tuned so that a test notices an outage within a fraction of a second.
func (s *FakeStreamsServer) URL() string {
	return "esdb://" + s.Addr() + "?tls=false&maxDiscoverAttempts=3&discoveryInterval=30&gossipTimeout=1"
}

// Stop makes the server go away: the listener and every connection close,
// running calls fail as Unavailable. The stored events are kept.
func (s *FakeStreamsServer) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.running = false
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart brings a stopped server back on the same address with its events.
func (s *FakeStreamsServer) Restart() error {
	s.mu.Lock()
	running, addr := s.running, s.addr
	s.mu.Unlock()
	if running {
		return errors.New("esdbtest: Restart of a running server")
	}
	return s.listen(addr)
}

// Close stops the server for good.
func (s *FakeStreamsServer) Close() { s.Stop() }

// DropSubscriptions ends every open subscription with Unavailable, as a
// server does when it restarts or a subscriber falls too far behind. The
// server itself stays up.
func (s *FakeStreamsServer) DropSubscriptions() {
	s.mu.Lock()
	close(s.drop)
	s.drop = make(chan struct{})
	s.mu.Unlock()
}

// InjectUnknownReadMessage makes the next n non-subscription reads start
// with a last_stream_position message, which newer servers send and which
// the v4.1.0 client does not expect (it panics on it).
func (s *FakeStreamsServer) InjectUnknownReadMessage(n int) {
	s.mu.Lock()
	s.injected += n
	s.mu.Unlock()
}

// OpenSubscriptions is how many subscriptions are being served right now.
func (s *FakeStreamsServer) OpenSubscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subsOpen
}

// Appends is how many Append calls wrote events.
func (s *FakeStreamsServer) Appends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appends
}

// AppendSystemEvent writes an event of a system type ($-prefixed) to a
// system stream, as the server does on its own from time to time.
func (s *FakeStreamsServer) AppendSystemEvent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked("$stats-127.0.0.1:2113", []*record{{
		id: uuid.New(), eventType: "$statsCollected", contentType: "application/json", data: []byte(`{}`),
	}})
}

// appendLocked stores recs at the end of stream and wakes subscriptions.
func (s *FakeStreamsServer) appendLocked(stream string, recs []*record) {
	now := time.Now().UnixNano() / 100
	for _, r := range recs {
		r.stream = stream
		r.revision = uint64(len(s.streams[stream]))
		r.position = s.nextPos
		r.created = now
		// Positions are byte offsets in the transaction log: they grow by
		// the record's size, so they have gaps, as on a real server.
		s.nextPos += uint64(64 + len(stream) + len(r.eventType) + len(r.data) + len(r.meta))
		s.log = append(s.log, r)
		s.streams[stream] = append(s.streams[stream], r)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: ServerVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
		},
	}, nil
}

type streamsService struct {
	api.UnimplementedStreamsServer
	s *FakeStreamsServer
}

// expectation is a decoded AppendReq expected_stream_revision.
type expectation struct {
	kind string // "any", "no_stream", "stream_exists", "revision"
	rev  uint64
}

func (st streamsService) Append(srv api.Streams_AppendServer) error {
	s := st.s
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || opts.GetStreamIdentifier() == nil {
		return status.Error(codes.InvalidArgument, "first append message must carry options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var exp expectation
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		exp = expectation{kind: "revision", rev: e.Revision}
	case *api.AppendReq_Options_NoStream:
		exp = expectation{kind: "no_stream"}
	case *api.AppendReq_Options_StreamExists:
		exp = expectation{kind: "stream_exists"}
	default:
		exp = expectation{kind: "any"}
	}

	var recs []*record
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := req.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		typ, ok := pm.GetMetadata()["type"]
		if !ok {
			return missingMetadata("type")
		}
		ct, ok := pm.GetMetadata()["content-type"]
		if !ok {
			return missingMetadata("content-type")
		}
		// Like Event.SizeOnDisk, roughly: what the event occupies in the log.
		size += len(pm.GetData()) + len(pm.GetCustomMetadata()) + len(typ)
		if size > s.opts.MaxAppendSize {
			srv.SetTrailer(metadata.Pairs(
				"exception", "maximum-append-size-exceeded",
				"maximum-append-size", strconv.Itoa(s.opts.MaxAppendSize)))
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.opts.MaxAppendSize)
		}
		id, err := uuidFromProto(pm.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "invalid event id: %v", err)
		}
		recs = append(recs, &record{
			id: id, eventType: typ, contentType: ct,
			data: append([]byte(nil), pm.GetData()...), meta: append([]byte(nil), pm.GetCustomMetadata()...),
		})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	existing := s.streams[stream]
	exists := len(existing) > 0
	last := uint64(len(existing)) - 1 // meaningless when !exists

	// The server's commit check: the same event IDs already in place make
	// the append idempotent; a mismatch is a conflict.
	if len(recs) > 0 {
		if at, ok := idempotentAt(existing, recs, exp); ok {
			lastRev := at + uint64(len(recs)) - 1
			return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
				CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: lastRev},
				// An idempotent write reports no position, as the server does.
				PositionOption: &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
			}}})
		}
	}
	ok := true
	switch exp.kind {
	case "revision":
		ok = exists && last == exp.rev
	case "no_stream":
		ok = !exists
	case "stream_exists":
		ok = exists
	}
	if !ok {
		return s.wrongExpectedVersion(srv, stream, exp, exists, last)
	}
	if len(recs) == 0 {
		success := &api.AppendResp_Success{PositionOption: &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}
		if exists {
			success.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: last}
		} else {
			success.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		}
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: success}})
	}
	s.appendLocked(stream, recs)
	s.appends++
	lastRec := recs[len(recs)-1]
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: lastRec.revision},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: lastRec.position, PreparePosition: lastRec.position,
		}},
	}}})
}

// idempotentAt reports whether recs are already stored, in order, where
// this append would have put them, and at which revision they start.
func idempotentAt(existing, recs []*record, exp expectation) (uint64, bool) {
	var start int
	switch exp.kind {
	case "revision":
		start = int(exp.rev) + 1
	case "no_stream":
		start = 0
	default: // any, stream_exists: look the first ID up in the stream
		start = -1
		for i, r := range existing {
			if r.id == recs[0].id {
				start = i
				break
			}
		}
		if start < 0 {
			return 0, false
		}
	}
	if start < 0 || start+len(recs) > len(existing) {
		return 0, false
	}
	for i, r := range recs {
		if existing[start+i].id != r.id {
			return 0, false
		}
	}
	return uint64(start), true
}

func (s *FakeStreamsServer) wrongExpectedVersion(srv api.Streams_AppendServer, stream string, exp expectation, exists bool, last uint64) error {
	if s.opts.LegacyWrongExpectedVersion {
		expected := map[string]int64{"any": -2, "no_stream": -1, "stream_exists": -4}[exp.kind]
		if exp.kind == "revision" {
			expected = int64(exp.rev)
		}
		actual := int64(-1)
		if exists {
			actual = int64(last)
		}
		srv.SetTrailer(metadata.Pairs(
			"exception", "wrong-expected-version",
			"stream-name", stream,
			"expected-version", strconv.FormatInt(expected, 10),
			"actual-version", strconv.FormatInt(actual, 10)))
		return status.Errorf(codes.FailedPrecondition,
			"Append failed due to WrongExpectedVersion. Stream: %s, Expected version: %d, Actual version: %d",
			stream, expected, actual)
	}
	w := &api.AppendResp_WrongExpectedVersion{}
	if exists {
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: last}
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: last}
	} else {
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	}
	switch exp.kind {
	case "revision":
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.rev}
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.rev}
	case "no_stream":
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case "stream_exists":
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}})
}

func missingMetadata(key string) error {
	return status.Errorf(codes.InvalidArgument, "Required Metadata Property '%s' is missing", key)
}

func (st streamsService) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	s := st.s
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read without options")
	}
	structured := o.GetUuidOption().GetString_() == nil
	filter, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	_, subscribe := o.GetCountOption().(*api.ReadReq_Options_Subscription)
	if !subscribe {
		s.mu.Lock()
		inject := s.injected > 0
		if inject {
			s.injected--
		}
		s.mu.Unlock()
		if inject {
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_LastStreamPosition{LastStreamPosition: 0}}); err != nil {
				return err
			}
		}
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	switch so := o.GetStreamOption().(type) {
	case *api.ReadReq_Options_Stream:
		if subscribe {
			return status.Error(codes.Unimplemented, "stream subscriptions are not implemented by the test double")
		}
		return s.readStream(srv, so.Stream, backwards, o.GetCount(), structured)
	case *api.ReadReq_Options_All:
		if subscribe {
			return s.subscribeAll(srv, so.All, filter, structured)
		}
		return s.readAll(srv, so.All, backwards, o.GetCount(), filter, structured)
	}
	return status.Error(codes.InvalidArgument, "read needs a stream or $all")
}

func (s *FakeStreamsServer) readStream(srv api.Streams_ReadServer, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64, structured bool) error {
	name := string(so.GetStreamIdentifier().GetStreamName())
	s.mu.Lock()
	recs := s.streams[name]
	s.mu.Unlock()
	if len(recs) == 0 {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	n := uint64(len(recs))
	var sel []*record
	if !backwards {
		from := uint64(0)
		switch r := so.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			from = r.Revision
		case *api.ReadReq_Options_StreamOptions_End:
			from = n
		}
		for i := from; i < n && uint64(len(sel)) < count; i++ {
			sel = append(sel, recs[i])
		}
	} else {
		from := n - 1
		if r, ok := so.GetRevisionOption().(*api.ReadReq_Options_StreamOptions_Revision); ok && r.Revision < n {
			from = r.Revision
		} else if _, ok := so.GetRevisionOption().(*api.ReadReq_Options_StreamOptions_Start); ok {
			from = 0
		}
		for i := int64(from); i >= 0 && uint64(len(sel)) < count; i-- {
			sel = append(sel, recs[i])
		}
	}
	for _, r := range sel {
		if err := srv.Send(eventResp(r, structured)); err != nil {
			return err
		}
	}
	return nil
}

// indexAt finds where a $all read or subscription starts. Positions must
// be ones the server handed out (or the end of the log); anything else is
// rejected, as by the real server, so an adapter that invents positions
// fails here too.
func (s *FakeStreamsServer) indexAt(ao *api.ReadReq_Options_AllOptions, exclusive bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch p := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		return len(s.log), nil
	case *api.ReadReq_Options_AllOptions_Position:
		c := p.Position.GetCommitPosition()
		if p.Position.GetPreparePosition() != c {
			return 0, status.Errorf(codes.InvalidArgument, "invalid position C:%d/P:%d", c, p.Position.GetPreparePosition())
		}
		if c >= s.nextPos {
			return len(s.log), nil
		}
		i := searchPos(s.log, c)
		if i == len(s.log) || s.log[i].position != c {
			return 0, status.Errorf(codes.InvalidArgument, "invalid position C:%d/P:%d: not a record boundary", c, c)
		}
		if exclusive {
			i++
		}
		return i, nil
	}
	return 0, nil
}

func searchPos(log []*record, c uint64) int {
	lo, hi := 0, len(log)
	for lo < hi {
		m := (lo + hi) / 2
		if log[m].position < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (s *FakeStreamsServer) snapshot() []*record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

func (s *FakeStreamsServer) readAll(srv api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter, structured bool) error {
	log := s.snapshot()
	var sent uint64
	if !backwards {
		i, err := s.indexAt(ao, false)
		if err != nil {
			return err
		}
		for ; i < len(log) && sent < count; i++ {
			if !f.match(log[i]) {
				continue
			}
			if err := srv.Send(eventResp(log[i], structured)); err != nil {
				return err
			}
			sent++
		}
		return nil
	}
	var i int
	switch ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Start:
		return nil
	case *api.ReadReq_Options_AllOptions_End:
		i = len(log) - 1
	default:
		// Backwards from a position reads the records before it.
		j, err := s.indexAt(ao, false)
		if err != nil {
			return err
		}
		i = j - 1
	}
	for ; i >= 0 && sent < count; i-- {
		if !f.match(log[i]) {
			continue
		}
		if err := srv.Send(eventResp(log[i], structured)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func (s *FakeStreamsServer) subscribeAll(srv api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, f *filter, structured bool) error {
	ctx := srv.Context()
	// A subscription from a position starts after it.
	i, err := s.indexAt(ao, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.subsOpen++
	drop := s.drop
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.subsOpen--
		s.mu.Unlock()
	}()
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	interval := f.checkpointInterval()
	scanned := 0
	caughtUp := false
	for {
		s.mu.Lock()
		log, changed := s.log, s.changed
		s.mu.Unlock()
		for ; i < len(log); i++ {
			r := log[i]
			if f.match(r) {
				if err := srv.Send(eventResp(r, structured)); err != nil {
					return err
				}
			}
			scanned++
			if f != nil && scanned%interval == 0 {
				if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
					CommitPosition: r.position, PreparePosition: r.position,
				}}}); err != nil {
					return err
				}
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-drop:
			return status.Error(codes.Unavailable, "subscription dropped by the server")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func eventResp(r *record, structured bool) *api.ReadResp {
	id := &shared.UUID{Value: &shared.UUID_String_{String_: r.id.String()}}
	if structured {
		id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits:  int64(binary.BigEndian.Uint64(r.id[:8])),
			LeastSignificantBits: int64(binary.BigEndian.Uint64(r.id[8:])),
		}}}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata: map[string]string{
				"type":         r.eventType,
				"content-type": r.contentType,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}}
}

func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	if st := id.GetStructured(); st != nil {
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[:8], uint64(st.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(u[8:], uint64(st.GetLeastSignificantBits()))
		return u, nil
	}
	return uuid.Parse(id.GetString_())
}

// filter is a $all read filter: on stream names or event types, by
// prefixes or by a regular expression. A nil filter matches everything.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	window   int
	mult     int
}

func newFilter(fo *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if fo == nil {
		return nil, nil
	}
	f := &filter{window: 1, mult: int(fo.GetCheckpointIntervalMultiplier())}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch e := fo.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		f.onType, expr = true, e.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = e.StreamIdentifier
	default:
		return nil, status.Error(codes.InvalidArgument, "filter needs an expression")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid filter regex: %v", err)
		}
		f.re = re
	}
	if m, ok := fo.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		f.window = int(m.Max)
	}
	return f, nil
}

func (f *filter) checkpointInterval() int {
	if f == nil {
		return 1
	}
	return max(1, f.window*max(1, f.mult))
}

func (f *filter) match(r *record) bool {
	if f == nil {
		return true
	}
	subject := r.stream
	if f.onType {
		subject = r.eventType
	}
	if f.re != nil && !f.re.MatchString(subject) {
		return false
	}
	if len(f.prefixes) == 0 {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}
