package codec

import (
	"errors"
	"strings"
	"testing"
)

func goldenBytes(t *testing.T, name string) []byte {
	t.Helper()
	for _, f := range loadFixtures(t) {
		if f.Name == name {
			return f.bytes(t)
		}
	}
	t.Fatalf("no fixture %s", name)
	return nil
}

func TestDecodeCallCreateKernels(t *testing.T) {
	call, err := DecodeCall(goldenBytes(t, "create_kernels_call"))
	if err != nil {
		t.Fatal(err)
	}
	if len(call.Args) != 5 {
		t.Fatalf("%d args, want 5", len(call.Args))
	}
	session, err := call.UUID(0, "session_id")
	if err != nil || session.String() != "6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d" {
		t.Fatalf("session_id = %v, %v", session, err)
	}
	kernels, err := call.List(1, "kernel_ids")
	if err != nil || len(kernels) != 2 {
		t.Fatalf("kernel_ids = %v, %v", kernels, err)
	}
	configs, err := call.List(2, "configs")
	if err != nil {
		t.Fatal(err)
	}
	image := configs[0].(map[string]any)["image"].(map[string]any)
	if pull := image["auto_pull"].(Enum); pull.Class != "AutoPullBehavior" || pull.String() != "digest" {
		t.Fatalf("auto_pull = %#v", pull)
	}
	cluster, err := call.Map(3, "cluster_info")
	if err != nil || cluster["size"] != int64(2) {
		t.Fatalf("cluster_info = %v, %v", cluster, err)
	}
	refs, err := call.Value(4, "kernel_image_refs")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range refs.(map[any]any) {
		if _, ok := k.(UUID); !ok {
			t.Fatalf("kernel_image_refs key %#v, want a UUID", k)
		}
		if r := v.(ImageRef); r.Name != "stable/python" || *r.Project != "stable" {
			t.Fatalf("kernel_image_refs value %#v", r)
		}
	}
	if agent, err := call.String(5, "agent_id"); err != nil || agent != "i-agent-01" {
		t.Fatalf("agent_id = %q, %v", agent, err)
	}
	if _, err := call.Map(4, "kernel_image_refs"); err == nil ||
		err.Error() != "argument 5 (kernel_image_refs): want dict with str keys, got dict" {
		t.Fatalf("Map(kernel_image_refs) error = %v", err)
	}
}

func TestDecodeCallDestroyKernel(t *testing.T) {
	call, err := DecodeCall(goldenBytes(t, "destroy_kernel_call"))
	if err != nil {
		t.Fatal(err)
	}
	if reason, err := call.String(2, "reason"); err != nil || reason != "user-requested" {
		t.Fatalf("reason = %q, %v", reason, err)
	}
	if suppress, err := call.Bool(3, "suppress_events"); err != nil || suppress {
		t.Fatalf("suppress_events = %v, %v", suppress, err)
	}
	if call.Has(4, "absent") {
		t.Fatal("Has(absent)")
	}
}

func TestDecodeCallRefuses(t *testing.T) {
	tests := []struct {
		name string
		body any
		want string
	}{
		{"list body", []any{}, "body is a list"},
		{"int keys", map[any]any{int64(1): 2}, "body is a dict"},
		{"no args", map[string]any{"kwargs": map[string]any{}}, `no "args"`},
		{"args not a list", map[string]any{"args": "x", "kwargs": map[string]any{}}, `"args" is a str`},
		{"no kwargs", map[string]any{"args": []any{}}, `no "kwargs"`},
		{"kwargs with int keys", map[string]any{"args": []any{}, "kwargs": map[any]any{int64(1): 1}}, `"kwargs" is a dict`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Encode(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeCall(body); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := DecodeCall([]byte{0xc1}); err == nil {
		t.Fatal("DecodeCall of bad msgpack succeeded")
	}
}

func TestCallAccessors(t *testing.T) {
	call := Call{
		Args: []any{int64(1), "s", nil, BinarySize(5), []byte("b"), 2.5,
			Enum{Class: "E", Value: int64(3)}, Enum{Class: "S", Value: "v"}},
		Kwargs: map[string]any{"kw": true, "s": "dup", "id": "0f1e2d3c-4b5a-4697-8877-665544332211"},
	}
	check := func(name string, err error, want string) {
		t.Helper()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (err == nil || err.Error() != want):
			t.Errorf("%s: error %v, want %q", name, err, want)
		case want != "" && !errors.Is(err, ErrArgument):
			t.Errorf("%s: %v is not ErrArgument", name, err)
		}
	}
	_, err := call.String(0, "kernel_id")
	check("String(int)", err, "argument 1 (kernel_id): want str, got int")
	_, err = call.String(1, "s")
	check("both ways", err, "argument 2 (s): given by position and by keyword")
	_, err = call.Int(9, "absent")
	check("missing", err, "argument 10 (absent): missing")
	_, err = call.Int(2, "none")
	check("Int(None)", err, "argument 3 (none): want int, got None")
	n, err := call.Int(3, "size")
	check("Int(BinarySize)", err, "")
	if n != 5 {
		t.Errorf("Int(BinarySize) = %d", n)
	}
	_, err = call.Int(6, "int_enum")
	check("Int(IntEnum)", err, "")
	_, err = call.Bytes(4, "data")
	check("Bytes", err, "")
	f, err := call.Float(0, "f")
	check("Float(int)", err, "")
	if f != 1 {
		t.Errorf("Float(int) = %v", f)
	}
	_, err = call.Float(5, "f")
	check("Float", err, "")
	_, err = call.Bool(0, "b")
	check("Bool(int)", err, "argument 1 (b): want bool, got int")
	_, err = call.Bool(8, "kw")
	check("Bool by keyword", err, "")
	_, err = call.UUID(8, "id")
	check("UUID from str", err, "")
	_, err = call.UUID(1, "x")
	check("UUID from bad str", err, "argument 2 (x): want UUID, got str")
	s, err := call.String(7, "str_enum")
	check("String(StrEnum)", err, "")
	if s != "v" {
		t.Errorf("String(StrEnum) = %q", s)
	}
	_, err = call.String(6, "int_enum")
	check("String(IntEnum)", err, "argument 7 (int_enum): want str, got E")
	_, err = call.List(0, "l")
	check("List(int)", err, "argument 1 (l): want list, got int")
	if !call.Has(0, "x") || call.Has(2, "none") || call.Has(9, "absent") {
		t.Error("Has")
	}
	if b, err := EncodeResult(map[string]any{"ok": true}); err != nil || len(b) != 5 {
		t.Errorf("EncodeResult = % x, %v", b, err)
	}
}
