package server

import (
	"net/http/httptest"
	"testing"
)

func TestFromThisMachine(t *testing.T) {
	for _, tc := range []struct {
		remote, host string
		ok           bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:8080", true},
		{"[::1]:5000", "localhost:8080", true},
		{"127.0.0.1:5000", "localhost", true},
		{"10.0.0.7:5000", "127.0.0.1:8080", false},
		{"192.168.1.3:5000", "localhost:8080", false},
		{"127.0.0.1:5000", "rebound.example:8080", false},
		{"127.0.0.1:5000", "10.0.0.1:8080", false},
	} {
		r := httptest.NewRequest("POST", "/v1/dev/sign-in", nil)
		r.RemoteAddr, r.Host = tc.remote, tc.host
		if err := fromThisMachine(r); (err == nil) != tc.ok {
			t.Errorf("from %s to host %s: err %v, want ok=%v", tc.remote, tc.host, err, tc.ok)
		}
	}
}
