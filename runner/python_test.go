package runner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPythonStatePersists(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	if r := c.run("x = 41"); r.exitCode != 0 || r.stdout.String() != "" {
		t.Fatalf("x = 41: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
	r := c.run("print(x + 1)")
	if r.exitCode != 0 || r.stdout.String() != "42\n" || r.stderr.String() != "" {
		t.Fatalf("print(x + 1): exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
	// A last expression is displayed, as in a REPL.
	if r := c.run("x * 2"); r.stdout.String() != "82\n" {
		t.Fatalf("x * 2: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
}

func TestPythonStdoutStderrOrderAndSubprocess(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	r := c.run("import sys, os\nprint('a')\nprint('b', file=sys.stderr)\nsys.stdout.flush()\nos.system('echo c')")
	if r.exitCode != 0 {
		t.Fatalf("exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	// os.system's output comes through the raw pipe, which is drained
	// before each record from the driver: "c" precedes the 0 displayed
	// after it. Across the two pipes there is no order beyond that: "a"
	// usually comes first, but a reader scheduled late may see "c" first.
	if got := r.stdout.String(); got != "a\nc\n0\n" && got != "c\na\n0\n" {
		t.Errorf("stdout %q, want %q", got, "a\nc\n0\n")
	}
	if got := r.stderr.String(); got != "b\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestPythonInput(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	c.send("code", "name = input('who? ')\nprint('hello', name)")
	r := c.collect("waiting-input")
	var w struct {
		IsPassword *bool `json:"is_password"`
	}
	if err := json.Unmarshal(r.final.payload, &w); err != nil || w.IsPassword == nil || *w.IsPassword {
		t.Fatalf("waiting-input payload %q: %v", r.final.payload, err)
	}
	if r.stdout.String() != "who? " {
		t.Errorf("prompt %q", r.stdout.String())
	}
	c.send("input", "abc")
	r = c.collect("finished")
	if r.exitCode != 0 || r.stdout.String() != "hello abc\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
	// getpass says it is a password.
	c.send("code", "import getpass\npw = getpass.getpass()\nprint(len(pw))")
	r = c.collect("waiting-input")
	if err := json.Unmarshal(r.final.payload, &w); err != nil || !*w.IsPassword {
		t.Fatalf("getpass waiting-input payload %q: %v", r.final.payload, err)
	}
	c.send("input", "secret")
	if r = c.collect("finished"); r.stdout.String() != "6\n" {
		t.Fatalf("getpass: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
}

var interruptCells = []string{
	"print('started', flush=True)\nwhile True: pass",
	"import time\nprint('started', flush=True)\ntime.sleep(100)",
	"print('started', flush=True)\ninput()",
	"print('started', flush=True)\nwhile True: print('x' * 100)",
}

// interruptCell starts a cell that runs until interrupted, interrupts it
// and checks that it ends, within a second, with a KeyboardInterrupt.
func interruptCell(t *testing.T, c *testClient, code string) {
	t.Helper()
	c.send("code", code)
	if strings.HasSuffix(code, "input()") {
		c.expect("waiting-input")
	} else {
		c.waitStdout("started\n")
	}
	t0 := time.Now()
	c.send("interrupt", "")
	r := c.collect("finished")
	if d := time.Since(t0); d > time.Second {
		t.Errorf("%q: interrupt took %v", code, d)
	}
	if r.exitCode != 1 || !strings.Contains(r.stderr.String(), "KeyboardInterrupt") {
		t.Errorf("%q: exit %d, stderr %q", code, r.exitCode, r.stderr.String())
	}
}

func TestPythonInterrupt(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	c.run("y = 7")
	for _, code := range interruptCells {
		interruptCell(t, c, code)
		// The interpreter lives on, state included.
		if r := c.run("print(y)"); r.exitCode != 0 || r.stdout.String() != "7\n" {
			t.Fatalf("after interrupt: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
		}
	}
	// An interrupt between cells changes nothing.
	c.send("interrupt", "")
	if r := c.run("print(y)"); r.stdout.String() != "7\n" {
		t.Fatalf("after idle interrupt: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
}

// Interrupts that land in the driver's own code (a print, the sending of
// waiting-input) are deferred, then raised; none may get lost.
func TestPythonInterruptRaces(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	for i := range 40 {
		interruptCell(t, c, interruptCells[i%len(interruptCells)])
	}
}

func TestPythonException(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	r := c.run("def f():\n    return 1 / 0\nf()")
	if r.exitCode != 1 {
		t.Errorf("exit %d", r.exitCode)
	}
	tb := r.stderr.String()
	for _, want := range []string{"Traceback (most recent call last):", "ZeroDivisionError: division by zero", "return 1 / 0"} {
		if !strings.Contains(tb, want) {
			t.Errorf("traceback lacks %q:\n%s", want, tb)
		}
	}
	if strings.Contains(tb, "driver.py") {
		t.Errorf("traceback shows the driver:\n%s", tb)
	}
	if r := c.run("def g(:"); r.exitCode != 1 || !strings.Contains(r.stderr.String(), "SyntaxError") ||
		strings.Contains(r.stderr.String(), "Traceback") {
		t.Errorf("syntax error: exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	if r := c.run("import sys\nsys.exit(4)"); r.exitCode != 4 {
		t.Errorf("sys.exit(4): exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	if r := c.run("print('alive')"); r.stdout.String() != "alive\n" {
		t.Errorf("after errors: stdout %q", r.stdout.String())
	}
}

func TestPythonInterpreterDies(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	c.run("z = 1")
	r := c.run("import os\nos._exit(3)")
	if r.exitCode != 3 || !strings.Contains(r.stderr.String(), "state is lost") {
		t.Fatalf("exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	r = c.run("print('z' in globals())")
	if r.exitCode != 0 || r.stdout.String() != "False\n" {
		t.Fatalf("fresh interpreter: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
}

func TestPythonFloodIsCapped(t *testing.T) {
	const total = 50 << 20
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	r := c.run("import sys\nsys.stdout.write('x' * (50 << 20))\nfor i in range(1000): print('y' * 1000)")
	if r.exitCode != 0 {
		t.Fatalf("exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	for i, m := range r.records {
		if len(m.payload) > DefaultMaxRecordBytes {
			t.Errorf("record %d: %d bytes", i, len(m.payload))
		}
	}
	if got, want := r.stdout.Len(), total+1000*1001; got != want {
		t.Errorf("stdout %d bytes, want %d (the client kept up: nothing dropped)", got, want)
	}
	t.Logf("%d records", len(r.records))
}

func TestPythonComplete(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	c.run("import os\nmy_variable = 1")
	c.sendJSON("complete", map[string]any{"code": "os.pa", "options": map[string]any{}})
	var got struct {
		Suggestions []string `json:"suggestions"`
	}
	if err := json.Unmarshal(c.expect("completion").payload, &got); err != nil {
		t.Fatal(err)
	}
	if !containsString(got.Suggestions, "os.path") {
		t.Errorf("os.pa → %q", got.Suggestions)
	}
	c.sendJSON("complete", map[string]any{"code": "x = my_v"})
	if err := json.Unmarshal(c.expect("completion").payload, &got); err != nil {
		t.Fatal(err)
	}
	if !containsString(got.Suggestions, "my_variable") {
		t.Errorf("my_v → %q", got.Suggestions)
	}
}

func TestPythonPickleAndTopLevelAwait(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	r := c.run("import pickle\nclass P:\n    pass\nprint(type(pickle.loads(pickle.dumps(P()))).__name__)")
	if r.stdout.String() != "P\n" {
		t.Errorf("pickle of a cell's class: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
	if r := c.run("import sys\nsys.version_info >= (3, 8)"); r.stdout.String() != "True\n" {
		t.Log("top-level await needs Python 3.8")
		return
	}
	r = c.run("import asyncio\nawait asyncio.sleep(0)\nprint('awaited')")
	if r.stdout.String() != "awaited\n" {
		t.Errorf("top-level await: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
}

func TestPythonThreadsForkUnicode(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	r := c.run(`import threading, multiprocessing as mp, os, sys
def w(i):
    sys.stdout.write('t%d\n' % i)  # print's two writes may interleave
ts = [threading.Thread(target=w, args=(i,)) for i in range(5)]
for th in ts: th.start()
for th in ts: th.join()
def sq(x):
    return x * x
with mp.get_context('fork').Pool(2) as pool:
    print(pool.map(sq, [1, 2, 3]))
sys.stdout.flush()  # a forked child writes to the raw pipe, unbuffered
pid = os.fork()
if pid == 0:
    print('from-child')
    os._exit(0)
os.waitpid(pid, 0)
print('ünïcödé ✓')`)
	if r.exitCode != 0 {
		t.Fatalf("exit %d, stderr %q", r.exitCode, r.stderr.String())
	}
	out := r.stdout.String()
	for _, want := range []string{"t0\n", "t4\n", "[1, 4, 9]\n", "from-child\n", "ünïcödé ✓\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q: %q", want, out)
		}
	}
}

// An interpreter that dies while its forked children live (and hold its
// pipes) still ends the cell.
func TestPythonDiesWithLiveChildren(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimePython})
	t0 := time.Now()
	r := c.run("import os, time\nif os.fork() == 0:\n    time.sleep(3)\n    os._exit(0)\nos._exit(9)")
	if r.exitCode != 9 || time.Since(t0) > 2*time.Second {
		t.Fatalf("exit %d after %v, stderr %q", r.exitCode, time.Since(t0), r.stderr.String())
	}
	if r := c.run("print('next')"); r.stdout.String() != "next\n" {
		t.Fatalf("next cell: stdout %q, stderr %q", r.stdout.String(), r.stderr.String())
	}
}
