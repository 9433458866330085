package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedRunPublishesPort: `run --net bridge --publish 8080` prints
// the host port, a server in the kernel answers there from the host, and
// when the kernel ends nothing of its network is left. The agent's bridge
// and table stay, as for a server; the test removes them when it made them.
func TestPrivilegedRunPublishesPort(t *testing.T) {
	testenv.RequirePrivileged(t)
	restoreAgentNetwork(t, bridgeName)
	conf, env := runEnv(t)
	cmd := agentCmd(t, "run", "-f", conf, "--net", "bridge", "--publish", "8080", "bai/busybox:1.0", "--",
		"sh", "-c", "mkdir -p /www; echo hello-published > /www/index.html; httpd -p 8080 -h /www; sleep 3; echo done")
	cmd.Env = append(cmd.Env, env...)
	stderr, _ := cmd.StderrPipe()
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	published := regexp.MustCompile(`^published 8080 -> ([0-9.]+):(\d+)$`)
	sc := bufio.NewScanner(stderr)
	port := ""
	var errText strings.Builder
	for sc.Scan() {
		errText.WriteString(sc.Text() + "\n")
		if m := published.FindStringSubmatch(sc.Text()); m != nil {
			port = m[2]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if port == "" {
		_ = cmd.Wait()
		t.Fatalf("no published port printed:\n%s", errText.String())
	}
	var body string
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET published port %s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body != "hello-published\n" {
		t.Fatalf("published port answered %q", body)
	}
	if err := cmd.Wait(); err != nil || stdout.String() != "done\n" {
		t.Fatalf("run: %v, stdout %q", err, stdout.String())
	}
	// Only links on the agent's bridge are this kernel's: other tests'
	// veths (same name prefix) may exist at the same time.
	br, err := netlink.LinkByName(bridgeName)
	if err != nil {
		t.Fatal(err)
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			t.Errorf("link %s left on %s after the kernel ended", l.Attrs().Name, bridgeName)
		}
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/", port)); err == nil {
		t.Error("the published port still answers after the kernel ended")
	}
}

// restoreAgentNetwork gives the host back, after the test, what bridge
// networking changes: IPv4 forwarding as it was, and the bridge and the
// agent's nftables table removed unless they were there before.
func restoreAgentNetwork(t testing.TB, bridge string) {
	t.Helper()
	if prev, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		t.Cleanup(func() { _ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", prev, 0o644) })
	}
	_, bridgeExisted := netlink.LinkByName(bridge)
	conn := &nftables.Conn{}
	tables, _ := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	tableExisted := slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == nftTable })
	t.Cleanup(func() {
		if bridgeExisted != nil {
			if l, err := netlink.LinkByName(bridge); err == nil {
				_ = netlink.LinkDel(l)
			}
		}
		if !tableExisted {
			conn.DelTable(&nftables.Table{Name: nftTable, Family: nftables.TableFamilyIPv4})
			_ = conn.Flush()
			return
		}
		// The table was there (an agent run on this host): only the test
		// bridge's segment rules go.
		removeSegmentRules(conn, bridge)
	})
}

// removeSegmentRules deletes the rules the agent tagged as bridge's
// segment ("backendai segment NAME") from its table.
func removeSegmentRules(conn *nftables.Conn, bridge string) {
	table := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyIPv4}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return
	}
	for _, ch := range chains {
		if ch.Table.Name != nftTable {
			continue
		}
		rules, err := conn.GetRules(table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && c == "backendai segment "+bridge {
				_ = conn.DelRule(r)
			}
		}
	}
	_ = conn.Flush()
}
