package configs

import (
	"reflect"
	"strings"
	"testing"
)

func TestTOMLRoundTrip(t *testing.T) {
	docs := map[string]string{
		"default": "",
		"install guide": func() string {
			cfg, _, err := Load("testdata/install-guide.toml", testOptions(nil))
			if err != nil {
				t.Fatal(err)
			}
			out, err := cfg.TOML(false)
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}(),
		"everything set": `
[etcd]
addr = ["e1:2379", "[fe80::1]:2379"]
password = "p\"w\\d\u0001"
[agent]
advertised-rpc-addr = "1.2.3.4:6001"
allow-compute-plugins = ["ai.backend.accelerator.cuda_open"]
[agent.utilization-metric.process]
interval = 0.25
[logging.console]
colored = false
[logging.pkg-ns]
"ai.backend" = "DEBUG"
"weird key" = "INFO"
[resource]
allocation-mode = "manual"
[resource.allocations]
cpu = 4
mem = "1536M"
devices = { "cuda.device" = "1" }
[service-discovery]
extra-labels = { zone = "a" }
[[service-discovery.endpoints]]
role = "main"
scope = "private"
address = "10.0.0.5"
port = 6003
protocol = "http"
metadata = { path = "/metrics" }
[[service-discovery.endpoints]]
role = "metrics"
scope = "private"
address = "10.0.0.5"
port = 6003
protocol = "http"
`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			first, _ := mustParse(t, doc, nil)
			out, err := first.TOML(false)
			if err != nil {
				t.Fatal(err)
			}
			second, _, err := Parse("shown.toml", out, testOptions(nil))
			if err != nil {
				t.Fatalf("the rendered config does not parse:\n%v\n%s", err, out)
			}
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", first, second, out)
			}
		})
	}
}

func TestTOMLRedaction(t *testing.T) {
	cfg, _ := mustParse(t, "[etcd]\nuser = \"bai\"\npassword = \"s3cret\"\n", nil)
	redacted, err := cfg.TOML(true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(redacted), "s3cret") || !strings.Contains(string(redacted), `password = "***"`) {
		t.Fatalf("TOML(true) does not redact the password:\n%s", redacted)
	}
	if !strings.Contains(string(redacted), `user = "bai"`) {
		t.Fatalf("TOML(true) redacts the user:\n%s", redacted)
	}
	plain, err := cfg.TOML(false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `password = "s3cret"`) {
		t.Fatalf("TOML(false) hides the password:\n%s", plain)
	}
	empty, err := Default().TOML(true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(empty), `password = ""`) {
		t.Fatalf("an unset password shows as set:\n%s", empty)
	}
}

func TestShowEtcdLocalFallback(t *testing.T) {
	cfg, _ := mustParse(t, "[etcd]\nlocal-fallback = true\n", nil)
	out, err := cfg.TOML(true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "[etcd]\nnamespace = \"local\"\naddr = { host = \"127.0.0.1\", port = 2379 }\nuser = \"\"\npassword = \"\"\nlocal-fallback = true\n") {
		t.Fatalf("config show lacks local-fallback = true under [etcd]:\n%s", out)
	}
	again, _ := mustParse(t, string(out), nil)
	if !again.Etcd.LocalFallback {
		t.Fatal("local-fallback lost in the round trip")
	}
}
