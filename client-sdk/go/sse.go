package grimoire

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// sseMessage is one dispatched Server-Sent Event.
type sseMessage struct {
	// ID is the event's id field, or the last id seen before it (the
	// stream's "last event id").
	ID string
	// Event is the event name ("message" when none was given).
	Event string
	// Data is the data lines joined with "\n".
	Data []byte
}

// sseDecoder reads an event stream as the HTML standard defines it: lines
// end in CRLF, LF or CR; a line starting with ':' is a comment; a blank
// line dispatches the event; several data lines are joined with "\n";
// `retry` sets the reconnection delay; an id holding NUL is ignored; an
// event without data is not dispatched; an unfinished event at the end of
// the stream is dropped.
type sseDecoder struct {
	scan        *bufio.Scanner
	started     bool
	lastEventID string
	retry       time.Duration
}

// maxSSELine bounds one line of the stream (run:completed carries every
// node's outputs on one data line).
const maxSSELine = 64 << 20

func newSSEDecoder(r io.Reader) *sseDecoder {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	s.Split(scanSSELines)
	return &sseDecoder{scan: s}
}

// scanSSELines splits at CRLF, LF or a lone CR.
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// CR: a following LF belongs to it; wait to see the next byte.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	}
	if atEOF {
		// A final line without an end of line: returned so that the caller
		// sees it, but an event it belongs to is never dispatched.
		return len(data), data, bufio.ErrFinalToken
	}
	return 0, nil, nil
}

// Next returns the next dispatched event, or io.EOF at the end of the
// stream (or the reader's error).
func (d *sseDecoder) Next() (sseMessage, error) {
	var (
		data    bytes.Buffer
		hasData bool
		event   string
	)
	for d.scan.Scan() {
		line := d.scan.Bytes()
		if !d.started {
			d.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(line) == 0 {
			if !hasData {
				event = ""
				continue
			}
			b := data.Bytes()
			b = b[:len(b)-1] // the last data line's "\n"
			if event == "" {
				event = "message"
			}
			return sseMessage{ID: d.lastEventID, Event: event, Data: bytes.Clone(b)}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				d.lastEventID = string(value)
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 31); err == nil && strings.Trim(string(value), "0123456789") == "" {
				d.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := d.scan.Err(); err != nil {
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}

// Retry is the reconnection delay the server asked for, or 0.
func (d *sseDecoder) Retry() time.Duration { return d.retry }

// LastEventID is the last id the stream set.
func (d *sseDecoder) LastEventID() string { return d.lastEventID }
