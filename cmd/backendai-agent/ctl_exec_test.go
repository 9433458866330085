package main

import (
	"testing"

	"github.com/baiagent/agent/rpc/codec"
)

// TestCtlExec: a run that continues once, then finishes with exit code 3;
// its stdout and stderr are streamed and ctl exits with the code.
func TestCtlExec(t *testing.T) {
	n := 0
	var modes []string
	s := startCtlServer(t, func(method string, call codec.Call) (any, error) {
		mode, _ := call.String(4, "mode")
		modes = append(modes, mode)
		n++
		if n == 1 {
			return map[string]any{"runId": "r", "status": "continued", "exitCode": nil,
				"console": []any{[]any{"stdout", "hello "}}}, nil
		}
		return map[string]any{"runId": "r", "status": "finished", "exitCode": int64(3),
			"console": []any{[]any{"stdout", "world\n"}, []any{"stderr", "oops\n"}}}, nil
	})
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "exec", "6f1c3a34-2a6b-4e54-9a43-0c9bb3f1a001", "print('hello world')")
	if code != 3 || out != "hello world\n" || errOut != "oops\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if len(modes) != 2 || modes[0] != "query" || modes[1] != "continue" {
		t.Errorf("modes %v", modes)
	}
	s.mu.Lock()
	first := s.calls[0].call
	s.mu.Unlock()
	if sid, _ := first.String(0, "session_id"); sid != "6f1c3a34-2a6b-4e54-9a43-0c9bb3f1a001" {
		t.Errorf("session id %q", sid)
	}
	if c, _ := first.String(5, "code"); c != "print('hello world')" {
		t.Errorf("code %q", c)
	}
}
