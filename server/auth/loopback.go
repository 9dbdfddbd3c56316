package auth

import "net"

// LoopbackHost reports whether host (a name or an IP, without a port) is
// this machine: "localhost" or a loopback address. Tokens minted from the
// data directory's secret, without asking, are only for such servers.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
