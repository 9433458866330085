package registry

import (
	"errors"
	"testing"
	"time"
)

// TestAuth: with auth on in etcd, the client logs in with etcd.user and
// etcd.password, survives a restart of etcd (its token is gone then), and
// fails plainly (not as unavailable) with a wrong password.
func TestAuth(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	ctx := t.Context()
	if _, err := raw.UserAdd(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}

	opts := testOptions(srv.Endpoints(), "local")
	opts.User, opts.Password = "root", "rootpw"
	c := open(t, opts)
	if err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	srv.Restart(false)
	eventually(t, 10*time.Second, func() error {
		_, _, err := c.Get(ctx, "k")
		return err
	})

	bad := opts
	bad.Password = "wrong"
	c2, err := Open(ctx, bad)
	switch {
	case err == nil:
		_ = c2.Close()
		t.Error("Open with a wrong password succeeded")
	case errors.Is(err, ErrUnavailable):
		t.Errorf("wrong password reported as unavailable: %v", err)
	default:
		t.Logf("wrong password: %v", err)
	}
	// Upstream logs in only with both set: a user alone means no login.
	anon := opts
	anon.Password = ""
	if c, err := Open(ctx, anon); err == nil {
		_ = c.Close()
		t.Error("Open without a password succeeded against an etcd with auth")
	} else {
		t.Logf("no password: %v", err)
	}
}
