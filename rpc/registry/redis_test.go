package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRedis(t *testing.T) {
	defaults := RedisHelper{
		SocketTimeout:          5 * time.Second,
		SocketConnectTimeout:   2 * time.Second,
		ReconnectPollTimeout:   300 * time.Millisecond,
		ConnectionReadyTimeout: 20 * time.Second,
	}
	for _, tc := range []struct {
		name string
		in   Tree
		want Redis
	}{{
		name: "empty",
		in:   Tree{},
		want: Redis{Helper: defaults},
	}, {
		name: "addr string and password",
		in:   Tree{"addr": "10.0.0.5:6379", "password": "secret"},
		want: Redis{Addr: "10.0.0.5:6379", Password: "secret", Helper: defaults},
	}, {
		name: "addr as host and port",
		in:   Tree{"addr": Tree{"host": "redis", "port": "6380"}},
		want: Redis{Addr: "redis:6380", Helper: defaults},
	}, {
		name: "ipv6",
		in:   Tree{"addr": "[::1]:6379"},
		want: Redis{Addr: "[::1]:6379", Helper: defaults},
	}, {
		name: "sentinel",
		in:   Tree{"sentinel": "s1:26379,s2:26379", "service_name": "mymaster", "use_tls": "True", "tls_skip_verify": "0"},
		want: Redis{Sentinel: []string{"s1:26379", "s2:26379"}, ServiceName: "mymaster", UseTLS: true, Helper: defaults},
	}, {
		name: "helper config",
		in: Tree{"redis_helper_config": Tree{
			"socket_timeout": "10", "socket-connect-timeout": "1.5", "reconnect_poll_timeout": "0.5",
		}},
		want: Redis{Helper: RedisHelper{
			SocketTimeout:          10 * time.Second,
			SocketConnectTimeout:   1500 * time.Millisecond,
			ReconnectPollTimeout:   500 * time.Millisecond,
			ConnectionReadyTimeout: 20 * time.Second,
		}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRedis(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseRedis (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseRedisReportsEveryProblem(t *testing.T) {
	_, err := ParseRedis(Tree{
		"addr":                "nohost",
		"sentinel":            "s1:0",
		"use_tls":             "maybe",
		"redis_helper_config": Tree{"socket_timeout": "-1"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"addr", "sentinel", "use_tls", "socket_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestOptionsDefaultsAndChecks(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Namespace != "local" || len(o.Addrs) != 1 || o.Addrs[0] != "127.0.0.1:2379" ||
		o.DialTimeout != DefaultDialTimeout || o.CallTimeout != DefaultCallTimeout {
		t.Errorf("defaults: %+v", o)
	}
	if eps := o.endpoints(); eps[0] != "http://127.0.0.1:2379" {
		t.Errorf("endpoints %v", eps)
	}
	_, err = Options{Namespace: "a/b", Addrs: []string{"nohost", ":1", "h:0"}, CallTimeout: -1}.withDefaults()
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, want := range []string{"namespace", "nohost", `":1"`, `"h:0"`, "call timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
