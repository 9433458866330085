package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClientKeyLayout(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	c := open(t, testOptions(srv.Endpoints(), "ns1"))
	ctx := t.Context()

	if err := c.Put(ctx, "config/watcher/token", "tok"); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "/leading/slash", "x"); err != nil {
		t.Fatal(err)
	}
	tree := map[string]any{
		"cuda": map[string]any{"device/mask": "0,1", "": "on"},
		"a b":  "c",
	}
	if err := c.PutDict(ctx, "config/plugins/accelerator", tree); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/sorna/ns1/config/watcher/token":                          "tok",
		"/sorna/ns1/leading/slash":                                 "x",
		"/sorna/ns1/config/plugins/accelerator/cuda":               "on",
		"/sorna/ns1/config/plugins/accelerator/cuda/device%2Fmask": "0,1",
		"/sorna/ns1/config/plugins/accelerator/a%20b":              "c",
	}
	if d := cmp.Diff(want, rawDump(t, raw)); d != "" {
		t.Errorf("stored keys (-want +got):\n%s", d)
	}
	if got := c.FullKey("/a/b"); got != "/sorna/ns1/a/b" {
		t.Errorf("FullKey = %q", got)
	}

	got, err := c.GetPrefix(ctx, "config/plugins/accelerator")
	if err != nil {
		t.Fatal(err)
	}
	wantTree := Tree{"cuda": Tree{"": "on", "device/mask": "0,1"}, "a b": "c"}
	if d := cmp.Diff(wantTree, got); d != "" {
		t.Errorf("GetPrefix (-want +got):\n%s", d)
	}

	// Another namespace sees none of it.
	other := open(t, testOptions(srv.Endpoints(), "ns2"))
	if v, ok, err := other.Get(ctx, "config/watcher/token"); err != nil || ok {
		t.Errorf("ns2 Get = %q, %v, %v; want nothing", v, ok, err)
	}
}

func TestClientGetPutDelete(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	ctx := t.Context()

	if _, ok, err := c.Get(ctx, "missing"); err != nil || ok {
		t.Fatalf("Get(missing) ok=%v err=%v", ok, err)
	}
	if err := c.Put(ctx, "empty", ""); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "empty"); err != nil || !ok || v != "" {
		t.Fatalf("Get(empty) = %q, %v, %v; want \"\", true", v, ok, err)
	}
	for _, k := range []string{"p/a", "p/b", "pq", "q"} {
		if err := c.Put(ctx, k, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, "q"); ok {
		t.Error("q still there")
	}
	if err := c.DeletePrefix(ctx, "p/"); err != nil {
		t.Fatal(err)
	}
	tr, err := c.GetPrefix(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Tree{"q": "pq"}, tr); d != "" {
		t.Errorf("after DeletePrefix (-want +got):\n%s", d)
	}
	if err := c.Delete(ctx, "never"); err != nil {
		t.Errorf("Delete(missing) = %v", err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
}

func TestClientWatch(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	ctx := t.Context()

	keyCh := c.Watch(ctx, "config/x")
	preCh := c.WatchPrefix(ctx, "config/")
	time.Sleep(100 * time.Millisecond) // let the watches start
	if err := c.Put(ctx, "config/x", "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "config/y", "2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "config/x"); err != nil {
		t.Fatal(err)
	}
	recv := func(ch <-chan Event) Event {
		t.Helper()
		select {
		case ev := <-ch:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	want := []Event{{Key: "config/x", Type: EventPut, Value: "1"}, {Key: "config/x", Type: EventDelete}}
	for _, w := range want {
		if d := cmp.Diff(w, recv(keyCh), cmp.Comparer(errors.Is)); d != "" {
			t.Errorf("Watch event (-want +got):\n%s", d)
		}
	}
	want = []Event{
		{Key: "config/x", Type: EventPut, Value: "1"},
		{Key: "config/y", Type: EventPut, Value: "2"},
		{Key: "config/x", Type: EventDelete},
	}
	for _, w := range want {
		if d := cmp.Diff(w, recv(preCh), cmp.Comparer(errors.Is)); d != "" {
			t.Errorf("WatchPrefix event (-want +got):\n%s", d)
		}
	}
}

func TestClientWatchEndsWithContext(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	wctx, wcancel := context.WithCancel(t.Context())
	ch := c.Watch(wctx, "k")
	wcancel()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("event after cancel: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}
