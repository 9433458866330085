package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one named health check; a nil error means healthy.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// HTTPOptions configures the internal HTTP server.
type HTTPOptions struct {
	// Addr is the listen address, host:port (agent.internal-addr).
	Addr    string
	Version string
	Logger  *slog.Logger
	// Registry collects the agent's metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Checks run on /health and /readyz.
	Checks []Check
}

// HTTPServer is the agent's internal HTTP endpoint: /health, /livez,
// /readyz and /metrics. It listens when made, so that a taken port is a
// start-up error, and serves when Serve is called.
type HTTPServer struct {
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
	version string
	checks  []Check
	ready   atomic.Bool
	readyG  prometheus.Gauge
}

// NewHTTPServer listens on o.Addr.
func NewHTTPServer(o HTTPOptions) (*HTTPServer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	reg := o.Registry
	if reg == nil {
		reg = NewRegistry(o.Version)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on internal address: %w", err)
	}
	s := &HTTPServer{log: o.Logger, ln: ln, version: o.Version, checks: o.Checks}
	s.readyG = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backendai_agent_ready", Help: "1 when the agent has finished start-up and serves requests.",
	})
	if err := reg.Register(s.readyG); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("register readiness metric: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// NewRegistry makes a metrics registry with the Go runtime and process
// collectors and a backendai_agent_info gauge carrying the version.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backendai_agent_info", Help: "Build information of the agent; always 1.",
	}, []string{"version"})
	info.WithLabelValues(version).Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info)
	return reg
}

// Addr is the bound address (useful with port 0).
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// SetReady flips /readyz between 503 and 200.
func (s *HTTPServer) SetReady(ready bool) {
	s.ready.Store(ready)
	if ready {
		s.readyG.Set(1)
	} else {
		s.readyG.Set(0)
	}
}

// Serve serves until Shutdown; it returns nil after a clean shutdown.
func (s *HTTPServer) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve internal http: %w", err)
	}
	return nil
}

// Shutdown stops accepting and waits for requests in flight until ctx ends.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.SetReady(false)
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down internal http: %w", err)
	}
	return nil
}

type healthReport struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Ready   bool              `json:"ready"`
	Checks  map[string]string `json:"checks"`
}

func (s *HTTPServer) runChecks(ctx context.Context) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := make(map[string]string, len(s.checks))
	ok := true
	for _, c := range s.checks {
		if err := c.Func(ctx); err != nil {
			out[c.Name] = err.Error()
			ok = false
			continue
		}
		out[c.Name] = "ok"
	}
	return out, ok
}

func (s *HTTPServer) health(w http.ResponseWriter, r *http.Request) {
	checks, ok := s.runChecks(r.Context())
	rep := healthReport{Status: "ok", Version: s.version, Ready: s.ready.Load(), Checks: checks}
	code := http.StatusOK
	if !ok {
		rep.Status, code = "degraded", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(rep)
}

func (s *HTTPServer) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	checks, ok := s.runChecks(r.Context())
	if !ok {
		for name, res := range checks {
			if res != "ok" {
				http.Error(w, fmt.Sprintf("check %s: %s", name, res), http.StatusServiceUnavailable)
				return
			}
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}
