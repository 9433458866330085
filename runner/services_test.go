package runner

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeServiceDef(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func serviceResult(t *testing.T, c *testClient) ServiceResult {
	t.Helper()
	var r ServiceResult
	if err := json.Unmarshal(c.expect("service-result").payload, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServices(t *testing.T) {
	requirePython(t)
	defs := t.TempDir()
	writeServiceDef(t, defs, "web", `{
		"command": ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{ports[0]}"],
		"url_template": "http://{host}:{port}/",
		"env": {"WEB_PORT": "{port}"}
	}`)
	writeServiceDef(t, defs, "silent", `{"command": "exec sleep 30", "shell": "sh"}`) // for get-apps
	writeServiceDef(t, defs, "broken", `{"command": `)
	_, c := startServer(t, Config{
		RuntimeType: RuntimeApp, ServiceDefsDir: defs, ServiceStopGrace: 500 * time.Millisecond,
	})

	port := freePort(t)
	start := map[string]any{"name": "web", "port": port, "ports": []int{port}, "protocol": "http", "options": map[string]any{}}
	t0 := time.Now()
	c.sendJSON("start-service", start)
	if r := serviceResult(t, c); r.Status != "started" {
		t.Fatalf("start web: %+v", r)
	}
	t.Logf("web started in %v", time.Since(t0))
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		t.Fatalf("web port: %v", err)
	}
	conn.Close()
	c.sendJSON("start-service", start)
	if r := serviceResult(t, c); r.Status != "running" {
		t.Fatalf("second start: %+v", r)
	}

	c.send("get-apps", "")
	var apps struct {
		Status string           `json:"status"`
		Data   []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(c.expect("apps-result").payload, &apps); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps.Data {
		names = append(names, a["name"].(string))
	}
	if apps.Status != "done" || strings.Join(names, ",") != "silent,web" {
		t.Fatalf("apps %+v (the broken definition is skipped)", apps)
	}
	if apps.Data[1]["url_template"] != "http://{host}:{port}/" || apps.Data[1]["ports"] == nil {
		t.Errorf("web app %+v", apps.Data[1])
	}

	c.sendJSON("shutdown-service", "web")
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("web still listening after shutdown-service")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, want := range map[string]string{
		"nope":    "invalid service name",
		"../etc":  "invalid service name",
		"broken":  "malformed service definition",
		"missing": "invalid service name",
	} {
		p := freePort(t)
		c.sendJSON("start-service", map[string]any{"name": name, "port": p, "ports": []int{p}, "protocol": "http"})
		if r := serviceResult(t, c); r.Status != "failed" || !strings.Contains(r.Error, want) {
			t.Errorf("start %s: %+v, want failed with %q", name, r, want)
		}
	}
	c.sendJSON("start-service", map[string]any{"name": "anything", "protocol": "preopen"})
	if r := serviceResult(t, c); r.Status != "started" {
		t.Errorf("preopen: %+v", r)
	}
}

func TestServicePortTimeout(t *testing.T) {
	defs := t.TempDir()
	writeServiceDef(t, defs, "silent", `{"command": "exec sleep 30", "shell": "sh"}`)
	_, c := startServer(t, Config{
		RuntimeType: RuntimeApp, ServiceDefsDir: defs,
		ServiceStartTimeout: 300 * time.Millisecond, ServiceStopGrace: 300 * time.Millisecond,
	})
	p := freePort(t)
	c.sendJSON("start-service", map[string]any{"name": "silent", "port": p, "ports": []int{p}, "protocol": "tcp"})
	if r := serviceResult(t, c); r.Status != "failed" || !strings.Contains(r.Error, "opening the service port timed out") {
		t.Errorf("%+v", r)
	}
	// The stuck process was stopped: a new start tries again.
	c.sendJSON("start-service", map[string]any{"name": "silent", "port": p, "ports": []int{p}, "protocol": "tcp"})
	if r := serviceResult(t, c); r.Status != "failed" {
		t.Errorf("second start: %+v", r)
	}
}

func TestServiceExitsEarly(t *testing.T) {
	defs := t.TempDir()
	writeServiceDef(t, defs, "quitter", `{"command": ["sh", "-c", "exit 5"]}`)
	_, c := startServer(t, Config{RuntimeType: RuntimeApp, ServiceDefsDir: defs})
	p := freePort(t)
	c.sendJSON("start-service", map[string]any{"name": "quitter", "port": p, "ports": []int{p}, "protocol": "tcp"})
	r := serviceResult(t, c)
	if r.Status != "failed" || !strings.Contains(r.Error, "exit code 5") {
		t.Errorf("%+v", r)
	}
}

func TestServicePrepare(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Config{RuntimeType: RuntimeApp, ServiceDefsDir: dir, WorkDir: dir, Log: testLogger(t)}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := newServices(cfg, []string{"PATH=/usr/bin:/bin", "FROZEN=1"}, "/usr/bin/python3")
	def := &ServiceDef{
		Command:          json.RawMessage(`["{runtime_path}", "-m", "app", "--port={port}"]`),
		Env:              map[string]string{"APP_{ports[1]}": "${{ ports[0] }}"},
		AllowedArguments: []string{"--extra"},
		AllowedEnvs:      []string{"USER_ENV", "FROZEN"},
		DefaultArguments: map[string]json.RawMessage{"--default": json.RawMessage(`["a", "b"]`)},
		PrestartActions: []PrestartAction{
			{Action: "write_tempfile", Args: json.RawMessage(`{"body": ["port={port}"]}`), Ref: "cfg"},
			{Action: "mkdir", Args: json.RawMessage(`{"path": "` + dir + `/sub/{port}"}`)},
		},
	}
	def.Command = json.RawMessage(`["{runtime_path}", "-m", "app", "--port={port}", "--config", "{cfg}"]`)
	req := ServiceRequest{Name: "app", Port: 8080, Ports: []int{8080, 8081},
		Options: ServiceOptions{Arguments: map[string]json.RawMessage{"--extra": json.RawMessage(`"x"`)}, Envs: map[string]string{"USER_ENV": "u"}}}
	argv, env, err := m.prepare(t.Context(), req, def, 8080)
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 11 || argv[0] != "/usr/bin/python3" || argv[3] != "--port=8080" ||
		strings.Join(argv[6:], " ") != "--default a b --extra x" {
		t.Errorf("argv %q", argv)
	}
	if b, err := os.ReadFile(argv[5]); err != nil || string(b) != "port=8080" {
		t.Errorf("tempfile %q: %q %v", argv[5], b, err)
	} else {
		os.Remove(argv[5])
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "8080")); err != nil {
		t.Error(err)
	}
	em := newEnvMap(env)
	if v, _ := em.get("APP_8081"); v != "8080" {
		t.Errorf("env %q", env)
	}
	if v, _ := em.get("USER_ENV"); v != "u" {
		t.Errorf("env %q", env)
	}
	req.Options.Envs = map[string]string{"FROZEN": "2"}
	if _, _, err := m.prepare(t.Context(), req, def, 8080); err == nil || !strings.Contains(err.Error(), "can't be overwritten") {
		t.Errorf("frozen env: %v", err)
	}
	req.Options.Envs = map[string]string{"OTHER": "2"}
	if _, _, err := m.prepare(t.Context(), req, def, 8080); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("disallowed env: %v", err)
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string]any{"ports": []int{10, 11}, "port": 10, "runtime_path": "/py", "out": map[string]string{"out": "o"}}
	for in, want := range map[string]string{
		"{ports[0]}":                  "10",
		"--port={port}":               "--port=10",
		"${{ ports[1] }}x":            "11x",
		"{ runtime_path }":            "/py",
		"echo ${HOME} {port}":         "echo ${HOME} 10",
		"{out[out]}":                  "o",
		"no templates":                "no templates",
		"unclosed {port":              "unclosed {port",
		"a $(( 1 + 2 )) {ports[1]} b": "a $(( 1 + 2 )) 11 b",
	} {
		got, err := interpolate(in, vars)
		if err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"{nope}", "{ports[5]}", "{port[0]}", "{ports.x}"} {
		if got, err := interpolate(bad, vars); err == nil {
			t.Errorf("interpolate(%q) = %q, want an error", bad, got)
		}
	}
}

// TestIntrinsicServices: ttyd starts from the image's own binary (a
// stand-in here that serves HTTP on the -p port) with no definition;
// sshd without dropbear or OpenSSH in the image fails with a result that
// says so.
func TestIntrinsicServices(t *testing.T) {
	bin := t.TempDir()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (make deps installs it): %v", err)
	}
	// ttyd -W -p PORT SHELL: a stand-in that serves HTTP on PORT.
	ttyd := "#!/bin/sh\nexec " + bb + " httpd -f -p 127.0.0.1:\"$3\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ttyd"), []byte(ttyd), 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the stand-in and a shell in PATH: no sshd, no dropbear.
	if err := os.Symlink("/bin/sh", filepath.Join(bin, "sh")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, c := startServer(t, Config{RuntimeType: RuntimeApp, ServiceDefsDir: t.TempDir(), ServiceStopGrace: 500 * time.Millisecond})
	port := freePort(t)
	c.sendJSON("start-service", map[string]any{"name": "ttyd", "port": port, "ports": []int{port}, "protocol": "http"})
	if r := serviceResult(t, c); r.Status != "started" {
		t.Fatalf("start ttyd: %+v", r)
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		t.Fatalf("ttyd port: %v", err)
	}
	conn.Close()
	c.sendJSON("shutdown-service", "ttyd")

	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		t.Log("this host has /usr/sbin/sshd, which the runner also looks for: the sshd case is not checked")
		return
	}
	p := freePort(t)
	c.sendJSON("start-service", map[string]any{"name": "sshd", "port": p, "ports": []int{p}, "protocol": "tcp"})
	if r := serviceResult(t, c); r.Status != "failed" || !strings.Contains(r.Error, "not available in this image") {
		t.Errorf("sshd without binaries: %+v", r)
	}
}
