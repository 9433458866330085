package configs

import (
	"testing"
	"time"
)

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in      string
		want    HostPort
		str     string
		wantErr bool
	}{
		{in: "127.0.0.1:2379", want: HostPort{"127.0.0.1", 2379}, str: "127.0.0.1:2379"},
		{in: "bai-m1:8120", want: HostPort{"bai-m1", 8120}, str: "bai-m1:8120"},
		{in: ":6001", want: HostPort{"", 6001}, str: ":6001"},
		{in: "[::1]:6001", want: HostPort{"::1", 6001}, str: "[::1]:6001"},
		{in: "fe80::1:6001", want: HostPort{"fe80::1", 6001}, str: "[fe80::1]:6001"},
		{in: "localhost", wantErr: true},
		{in: "localhost:http", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseHostPort(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseHostPort(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseHostPort(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Fatalf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "20", want: 20 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "soon", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "1e300", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || time.Duration(got) != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
