package agent

import (
	"context"
	"slices"
	"testing"

	"github.com/baiagent/agent/rpc/codec"
)

// FuzzHandle feeds arbitrary call bodies to every method: whatever the
// bytes, a call answers (a result or an error) and never panics. The seeds
// are well-formed calls of each method.
func FuzzHandle(f *testing.F) {
	seeds := [][]any{
		{"ping", "x"},
		{"create_kernels", sessionA, []any{kernelA}, []any{creationConfig(kernelA)}, map[string]any{}, map[string]any{}},
		{"destroy_kernel", kernelA, sessionA, "user-requested"},
		{"upload_file", kernelA, "../a", []byte("x")},
		{"download_file", kernelA, "a"},
		{"sync_kernel_registry", []any{[]any{kernelA, sessionA}}},
		{"check_and_pull", map[string]any{"a": map[string]any{"canonical": "a"}}},
		{"release_port", int64(30000)},
	}
	names := []string{}
	for _, s := range seeds {
		body, err := codec.Encode(map[string]any{"args": s[1:], "kwargs": map[string]any{"agent_id": nil}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(len(names)), body)
		names = append(names, s[0].(string))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		fx := &fixture{kernels: newFakeKernels(dir), rec: &recorder{}}
		svc, err := New(Options{
			AgentID: "i-fuzz", Kernels: fx.kernels, Images: fakeImages{present: map[string]bool{}},
			Publisher: fx.rec, Networking: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		methods := slices.Sorted(func(yield func(string) bool) {
			for m := range svc.methods {
				if !yield(m) {
					return
				}
			}
		})
		m := methods[int(which)%len(methods)]
		_, _ = svc.Handle(context.Background(), m, body)
		svc.Wait()
	})
}
