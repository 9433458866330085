//go:build !slimrun

package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// exitCodeError makes ctl exit with a kernel's exit status, without a
// message (ctl exec).
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ctlExecFlags: exec ID CODE → execute(session_id, kernel_id, 2, run_id,
// mode, code, opts, flush_timeout) until the run finishes, streaming the
// console items as they come.
func ctlExecFlags(fs *commonFlags) ctlPrepare {
	mode := fs.String("mode", "query", "query (through the kernel's runtime: a live Python, or sh) or batch (sh -c CODE)")
	session := fs.String("session", "", "the kernel's session id (default: the kernel id, as ctl create makes them)")
	return func(pos []string) (ctlAction, error) {
		if *mode != "query" && *mode != "batch" {
			return nil, fmt.Errorf("--mode %q: want query or batch", *mode)
		}
		kernel, code := pos[0], strings.Join(pos[1:], " ")
		sid := *session
		if sid == "" {
			sid = kernel
		}
		return func(c *ctlClient) error { return ctlExec(c, sid, kernel, *mode, code) }, nil
	}
}

func ctlExec(c *ctlClient, session, kernel, mode, code string) error {
	id := newUUID4()
	runID := hex.EncodeToString(id[:8])
	opts := map[string]any{}
	if mode == "batch" {
		opts = map[string]any{"clean": "", "build": "", "exec": code}
		code = ""
	}
	stdin := bufio.NewReader(os.Stdin)
	for {
		v, err := c.call("execute", []any{session, kernel, int64(2), runID, mode, code, opts, 1.0}, nil)
		if err != nil {
			return err
		}
		res := asStrMap(v)
		if res == nil {
			return fmt.Errorf("execute: the agent answered %s, want a dict", describeValue(v))
		}
		printConsole(c, res["console"])
		status, _ := res["status"].(string)
		switch status {
		case "finished", "exec-timeout":
			code := 0
			if n, ok := res["exitCode"].(int64); ok {
				code = int(n)
			}
			if status == "exec-timeout" {
				return errors.New("execution timed out (the kernel is destroyed)")
			}
			if code != 0 {
				return exitCodeError{code: code}
			}
			return nil
		case "waiting-input":
			line, _ := stdin.ReadString('\n')
			mode, code = "input", strings.TrimSuffix(line, "\n")
		default: // continued, clean-finished, build-finished
			mode, code = "continue", ""
		}
		opts = map[string]any{}
	}
}

// printConsole writes console items: stdout and stderr as they are, the
// others (media, html, log) as a tagged line on stderr.
func printConsole(c *ctlClient, v any) {
	items, _ := v.([]any)
	for _, it := range items {
		pair, _ := it.([]any)
		if len(pair) != 2 {
			continue
		}
		kind, _ := pair[0].(string)
		text, isText := pair[1].(string)
		switch {
		case kind == "stdout" && isText:
			fmt.Fprint(c.stdout, text)
		case kind == "stderr" && isText:
			fmt.Fprint(c.stderr, text)
		default:
			fmt.Fprintf(c.stderr, "[%s] %s\n", kind, describeValue(pair[1]))
		}
	}
}
