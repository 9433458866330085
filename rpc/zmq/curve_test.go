package zmq

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCurveKeys(t *testing.T) {
	if !HasCurve() {
		t.Fatal("libzmq lacks CURVE (Debian's libzmq5 has it)")
	}
	pub, sec, err := NewCurveKeypair()
	if err != nil {
		t.Fatalf("NewCurveKeypair: %v", err)
	}
	if len(pub) != 40 || len(sec) != 40 || pub == sec {
		t.Fatalf("NewCurveKeypair = %q, %q", pub, sec)
	}
	if got, err := AuthCurvePublic(sec); err != nil || got != pub {
		t.Errorf("AuthCurvePublic(secret) = %q, %v; want %q", got, err, pub)
	}
	// A pair pyzmq made (rpc/callosum/testdata/pyzmq.key_secret).
	if got, err := AuthCurvePublic("lW8rJm-aDlZbpm(jtjNJp#<2#DEptt1Cua}Hup]N"); err != nil || got != "[T6}<UCcgrv4Hsb5g)3}1p2QJZiA+]V*HW5uK=]R" {
		t.Errorf("AuthCurvePublic(pyzmq's secret) = %q, %v", got, err)
	}
	for _, bad := range []string{"", "short", sec + "12345", strings.Repeat("~", 40), sec[:39] + "\x00"} {
		if got, err := AuthCurvePublic(bad); err == nil {
			t.Errorf("AuthCurvePublic(%q) = %q, want an error", bad, got)
		}
	}
}

func TestZ85encode(t *testing.T) {
	// ZeroMQ RFC 32's test vector.
	if got := Z85encode("\x86\x4F\xD2\x6F\xB5\x59\xF7\x5B"); got != "HelloWorld" {
		t.Errorf("Z85encode = %q, want HelloWorld", got)
	}
	if got := Z85encode("abc"); got != "" {
		t.Errorf("Z85encode of 3 bytes = %q, want \"\"", got)
	}
	if got := Z85encode(""); got != "" {
		t.Errorf("Z85encode of nothing = %q", got)
	}
}

// TestCurveRoundTrip checks that the key options reach libzmq: a CURVE
// client with the server's key talks, one with a wrong key does not.
func TestCurveRoundTrip(t *testing.T) {
	ctx := newContext(t)
	srvPub, srvSec, _ := NewCurveKeypair()
	cliPub, cliSec, _ := NewCurveKeypair()
	otherPub, _, _ := NewCurveKeypair()

	router := newSocket(t, ctx, ROUTER)
	if err := errors.Join(router.SetCurveServer(1), router.SetCurveSecretkey(srvSec), router.Bind("tcp://127.0.0.1:*")); err != nil {
		t.Fatal(err)
	}
	ep, _ := router.GetLastEndpoint()
	dial := func(serverKey string) *Socket {
		d := newSocket(t, ctx, DEALER)
		if err := errors.Join(d.SetCurveServerkey(serverKey), d.SetCurvePublickey(cliPub), d.SetCurveSecretkey(cliSec), d.Connect(ep)); err != nil {
			t.Fatal(err)
		}
		return d
	}

	bad := dial(otherPub)
	if _, err := bad.SendMessage("intruder"); err != nil {
		t.Fatal(err)
	}
	good := dial(srvPub)
	if _, err := good.SendMessage("hello"); err != nil {
		t.Fatal(err)
	}
	got := recvWithin(t, router, 5*time.Second)
	if len(got) != 2 || string(got[1]) != "hello" {
		t.Fatalf("router got %q, want [id hello]", got)
	}
	p := NewPoller()
	p.Add(router, POLLIN)
	if polled, _ := p.Poll(200 * time.Millisecond); len(polled) != 0 {
		t.Errorf("the client with a wrong server key got a message through")
	}
}

func TestVersion(t *testing.T) {
	major, minor, patch, err := Version()
	if err != nil || major != 4 || minor < 3 {
		t.Errorf("Version = %d.%d.%d, %v; want 4.3 or later", major, minor, patch, err)
	}
}
