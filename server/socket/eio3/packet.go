package eio3

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Socket.IO protocol revision 4 (the one socket.io-client 1.x/2.x speak)
// packet types.
const (
	typeConnect     = '0'
	typeDisconnect  = '1'
	typeEvent       = '2'
	typeAck         = '3'
	typeError       = '4'
	typeBinaryEvent = '5'
	typeBinaryAck   = '6'
)

// packet is one decoded Socket.IO packet header plus its raw JSON data.
type packet struct {
	typ         byte
	attachments int    // binary attachments that follow as separate frames
	nsp         string // "/" when absent
	id          int64  // -1 when the sender wants no ack
	data        []byte // raw JSON (may be truncated when the frame was too large)
}

var errBadPacket = errors.New("malformed socket.io packet")

// parsePacket decodes "<type>[<attachments>-][<nsp>,][<id>]<json>". It only
// validates the header; data is checked by the caller that needs it.
func parsePacket(b []byte) (packet, error) {
	p := packet{nsp: "/", id: -1}
	if len(b) == 0 || b[0] < typeConnect || b[0] > typeBinaryAck {
		return p, errBadPacket
	}
	p.typ = b[0]
	i := 1
	if p.typ == typeBinaryEvent || p.typ == typeBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' || j-i > 6 {
			return p, fmt.Errorf("%w: attachment count", errBadPacket)
		}
		n, _ := strconv.Atoi(string(b[i:j]))
		p.attachments = n
		i = j + 1
	}
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			// A packet may end right after the namespace ("0/admin").
			j = len(b) - i
		}
		nsp := string(b[i : i+j])
		if q := bytes.IndexByte([]byte(nsp), '?'); q >= 0 {
			nsp = nsp[:q]
		}
		p.nsp = nsp
		i += j
		if i < len(b) {
			i++ // the comma
		}
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j > i {
		if j-i > 15 {
			return p, fmt.Errorf("%w: ack id too long", errBadPacket)
		}
		p.id, _ = strconv.ParseInt(string(b[i:j]), 10, 64)
	}
	p.data = b[j:]
	return p, nil
}

// eventName reads the event name from the start of an EVENT packet's data. It
// works on a truncated prefix, so that a too-large packet can still be named
// in the error the client gets.
func eventName(data []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return "", fmt.Errorf("%w: event data is not an array", errBadPacket)
	}
	tok, err = dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: event name: %v", errBadPacket, err)
	}
	name, ok := tok.(string)
	if !ok || name == "" {
		return "", fmt.Errorf("%w: event name is not a string", errBadPacket)
	}
	return name, nil
}

// eventArgs splits an EVENT packet's data into its name and first argument.
func eventArgs(data []byte) (string, json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil {
		return "", nil, fmt.Errorf("%w: %v", errBadPacket, err)
	}
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%w: empty event", errBadPacket)
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil || name == "" {
		return "", nil, fmt.Errorf("%w: event name is not a string", errBadPacket)
	}
	if len(args) == 1 {
		return name, nil, nil
	}
	return name, args[1], nil
}

// encodeAck builds `3<id>[payload]`.
func encodeAck(id int64, payload json.RawMessage) []byte {
	b := make([]byte, 0, len(payload)+24)
	b = append(b, typeAck)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, '[')
	if payload != nil {
		b = append(b, payload...)
	}
	return append(b, ']')
}

// encodeNamespaceError builds `4/nsp,"message"`: the v2 way to refuse a namespace.
func encodeNamespaceError(nsp, message string) []byte {
	msg, _ := json.Marshal(message)
	b := []byte{typeError}
	if nsp != "/" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	return append(b, msg...)
}
