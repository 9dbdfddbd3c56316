package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
)

// Appends queued for the writer when the store closes are answered with
// ErrClosed, not left waiting.
func TestCloseAnswersQueuedAppends(t *testing.T) {
	s, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				exp := events.NoStream
				if i > 0 {
					exp = events.Exact(uint64(i - 1))
				}
				_, err := s.Append(context.Background(), fmt.Sprintf("run-w%d", w), exp, events.EventData{Type: "E", Data: []byte(`{}`)})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("appends still blocked 10s after Close")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, events.ErrClosed) {
			t.Fatalf("append during Close: %v, want ErrClosed", err)
		}
	}
}

// A lone appender that appends again as soon as it is answered is never
// held back waiting for company.
func TestALoneAppenderDoesNotWaitForOthers(t *testing.T) {
	s, err := embedded.Open(embedded.Options{Dir: t.TempDir(), GroupWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 50 {
		exp := events.NoStream
		if i > 0 {
			exp = events.Exact(uint64(i - 1))
		}
		if _, err := s.Append(ctx, "run-lone", exp, events.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}
