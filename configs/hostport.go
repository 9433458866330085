package configs

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// HostPort is a network address. In a config file it is written as a table
// { host = "0.0.0.0", port = 6001 }, a string "host:port" or an array
// ["host", port]. An empty host is allowed where upstream allows it (for
// example rpc-listen-addr, where it means auto-detection).
type HostPort struct {
	Host string
	Port int
}

// ParseHostPort parses "host:port", "[v6addr]:port" or an unbracketed IPv6
// address followed by ":port" (split at the last colon, as upstream does).
func ParseHostPort(s string) (HostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return HostPort{}, errors.New(`expected "host:port"`)
		}
		host, port = s[:i], s[i+1:]
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return HostPort{}, fmt.Errorf("port %q is not an integer", port)
	}
	return HostPort{Host: strings.Trim(host, "[]"), Port: n}, nil
}

// String returns "host:port", with an IPv6 host in brackets.
func (h HostPort) String() string {
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}
