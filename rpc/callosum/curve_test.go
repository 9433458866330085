package callosum

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// keypair is a fresh z85 CURVE pair.
func keypair(t testing.TB) (public, secret string) {
	t.Helper()
	public, secret, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatalf("NewCurveKeypair: %v", err)
	}
	return public, secret
}

func TestCurve(t *testing.T) {
	if !zmq.HasCurve() {
		t.Fatal("libzmq lacks CURVE (Debian's libzmq5 has it)")
	}
	agentPub, agentSec := keypair(t)
	mgrPub, mgrSec := keypair(t)
	intruderPub, intruderSec := keypair(t)
	s := startServer(t, Options{
		Handler: newTestHandler(),
		Curve:   &CurveOptions{PublicKey: agentPub, SecretKey: agentSec, ManagerPublicKey: mgrPub},
	})
	if s.PublicKey() != agentPub {
		t.Errorf("PublicKey() = %q, want %q", s.PublicKey(), agentPub)
	}

	t.Run("manager admitted", func(t *testing.T) {
		c := dial(t, s.Addr(), ClientOptions{Curve: &ClientCurve{ServerPublicKey: agentPub, PublicKey: mgrPub, SecretKey: mgrSec}})
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		got, err := c.Call(t.Context(), "echo", []byte("secret"))
		if err != nil || string(got) != "secret" {
			t.Fatalf("Call = %q, %v", got, err)
		}
	})

	short := 500 * time.Millisecond
	for _, tc := range []struct {
		name string
		opts ClientOptions
	}{
		{"unknown key", ClientOptions{HandshakeTimeout: short, Curve: &ClientCurve{ServerPublicKey: agentPub, PublicKey: intruderPub, SecretKey: intruderSec}}},
		{"no CURVE", ClientOptions{HandshakeTimeout: short}},
		{"wrong server key", ClientOptions{HandshakeTimeout: short, Curve: &ClientCurve{ServerPublicKey: intruderPub, PublicKey: mgrPub, SecretKey: mgrSec}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(t.Context(), s.Addr(), tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded, want ErrHandshake")
			}
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("Dial = %v, want ErrHandshake", err)
			}
		})
	}
	if st := s.Stats(); st.Rejected == 0 {
		t.Errorf("Stats.Rejected = 0, want the unknown key's ZAP denial counted")
	}
}

func TestCurveOptionsChecked(t *testing.T) {
	pub, sec := keypair(t)
	otherPub, _ := keypair(t)
	tests := map[string]CurveOptions{
		"pair mismatch":    {PublicKey: otherPub, SecretKey: sec, ManagerPublicKey: otherPub},
		"short key":        {PublicKey: pub[:39], SecretKey: sec, ManagerPublicKey: otherPub},
		"not z85":          {PublicKey: pub, SecretKey: sec, ManagerPublicKey: strings.Repeat("~", 40)},
		"no manager key":   {PublicKey: pub, SecretKey: sec},
		"empty everywhere": {},
	}
	for name, co := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := NewServer(Options{Addr: "127.0.0.1:0", Handler: newTestHandler(), Curve: &co})
			if err == nil {
				s.Close()
				t.Fatal("NewServer accepted bad CURVE options")
			}
		})
	}
}

func TestLoadCertificate(t *testing.T) {
	// Written by pyzmq's zmq.auth.create_certificates.
	pub, sec, err := LoadCertificate("testdata/pyzmq.key_secret")
	if err != nil {
		t.Fatal(err)
	}
	if pub != "[T6}<UCcgrv4Hsb5g)3}1p2QJZiA+]V*HW5uK=]R" || sec != "lW8rJm-aDlZbpm(jtjNJp#<2#DEptt1Cua}Hup]N" {
		t.Errorf("secret certificate: %q %q", pub, sec)
	}
	if derived, err := zmq.AuthCurvePublic(sec); err != nil || derived != pub {
		t.Errorf("fixture's pair does not match: %q %v", derived, err)
	}
	pub2, sec2, err := LoadCertificate("testdata/pyzmq.key")
	if err != nil || pub2 != pub || sec2 != "" {
		t.Errorf("public certificate: %q %q %v", pub2, sec2, err)
	}

	dir := t.TempDir()
	for name, text := range map[string]string{
		"empty":       "",
		"comment key": "#    public-key = \"" + pub + "\"\n",
		"short key":   "curve\n    public-key = \"abc\"\n",
		"bad secret":  "curve\n    public-key = \"" + pub + "\"\n    secret-key = \"" + strings.Repeat("~", 40) + "\"\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadCertificate(p); err == nil {
			t.Errorf("%s: LoadCertificate accepted it", name)
		}
	}
	if _, _, err := LoadCertificate(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}
