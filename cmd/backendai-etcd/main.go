// Command backendai-etcd runs a single-node etcd server on loopback, for
// development on one machine: the agent starts it as a child process when
// [etcd] local-fallback is on and the configured etcd does not answer (see
// cmd/backendai-agent/localetcd.go). It is a binary of its own so that the
// etcd server's package initialization (~100 ms) is not paid at every
// start of backendai-agent.
//
//	backendai-etcd --data-dir DIR [--listen-client 127.0.0.1:2379]
//	    [--listen-peer 127.0.0.1:2380] [--name backendai-local]
//	    [--exit-on-stdin-eof]
//
// Both addresses must be loopback (an address in 127.0.0.0/8, ::1 or
// localhost). etcd logs to stderr through zap, as JSON lines, at warn level.
// When the server is ready, one line "ready http://HOST:PORT" goes to
// stdout. SIGINT or SIGTERM stops it cleanly (exit 0); with
// --exit-on-stdin-eof so does the end of standard input, which a parent
// that holds a pipe there uses to take the server down with it even when it
// is killed. When it cannot start (a port in use, a data directory it cannot
// write) it exits 1 with a line "backendai-etcd: ..." on stderr; a bad
// command line exits 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	dataDir        string
	clientAddr     string
	peerAddr       string
	name           string
	exitOnStdinEOF bool
}

// errUsage marks command line errors (exit status 2).
var errUsage = errors.New("usage")

// parseFlags reads and checks the command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("backendai-etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", "", "data directory, created if missing (required)")
	fs.StringVar(&o.clientAddr, "listen-client", "127.0.0.1:2379", "client address, host:port on loopback")
	fs.StringVar(&o.peerAddr, "listen-peer", "127.0.0.1:2380", "peer address, host:port on loopback")
	fs.StringVar(&o.name, "name", "backendai-local", "member name")
	fs.BoolVar(&o.exitOnStdinEOF, "exit-on-stdin-eof", false, "stop when standard input reaches its end (the parent holding it died)")
	if err := fs.Parse(args); err != nil {
		return o, errUsage
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.dataDir == "" {
		return o, fmt.Errorf("%w: --data-dir is required", errUsage)
	}
	if o.name == "" {
		return o, fmt.Errorf("%w: --name must not be empty", errUsage)
	}
	var err error
	if o.clientAddr, err = loopbackAddr("--listen-client", o.clientAddr); err != nil {
		return o, err
	}
	if o.peerAddr, err = loopbackAddr("--listen-peer", o.peerAddr); err != nil {
		return o, err
	}
	if o.clientAddr == o.peerAddr {
		return o, fmt.Errorf("%w: --listen-client and --listen-peer are both %s", errUsage, o.clientAddr)
	}
	return o, nil
}

// loopbackAddr checks that s is host:port with a loopback host and a port
// in 1..65535, and returns it in canonical form.
func loopbackAddr(flagName, s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q: %v", errUsage, flagName, s, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: %s %q: port must be 1..65535", errUsage, flagName, s)
	}
	if strings.EqualFold(host, "localhost") {
		return net.JoinHostPort("localhost", port), nil // etcd binds "localhost" only in lower case
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return "", fmt.Errorf("%w: %s %q: host must be a loopback address (127.0.0.1, ::1 or localhost)", errUsage, flagName, s)
	}
	return net.JoinHostPort(ip.Unmap().String(), port), nil
}

// run is the command; ctx ends at SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err != errUsage { // flag has printed its own message
			fmt.Fprintf(stderr, "backendai-etcd: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		}
		return 2
	}
	lock, err := lockDataDir(o.dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-etcd: %v\n", err)
		return 1
	}
	defer lock.Close()
	level := zap.NewAtomicLevelAt(zap.WarnLevel)
	e, err := start(ctx, o, level)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-etcd: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready http://%s\n", e.Clients[0].Addr())

	eof := make(chan struct{})
	if o.exitOnStdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			close(eof)
		}()
	}
	select {
	case <-ctx.Done():
		stopQuietly(e, level)
		return 0
	case <-eof:
		fmt.Fprintln(stderr, "backendai-etcd: standard input closed (parent gone); stopping")
		stopQuietly(e, level)
		return 0
	case err := <-e.Err():
		e.Close()
		fmt.Fprintf(stderr, "backendai-etcd: etcd failed: %v\n", err)
		return 1
	}
}

// stopQuietly closes e. Closing makes every listener's serve loop log an
// error ("setting up serving from embedded etcd failed": "mux: server
// closed", "use of closed network connection"), which would read as a
// failure in the agent's log: only fatal messages are kept meanwhile.
func stopQuietly(e *embed.Etcd, level zap.AtomicLevel) {
	level.SetLevel(zap.DPanicLevel)
	e.Close()
}

// benign are warnings every start of this setup logs and nothing can be
// done about: one listener serves HTTP and gRPC on purpose, and a
// development etcd without authentication has no tokens to sign.
var benign = []string{
	"Running http and grpc server on single port. This is not recommended for production.",
	"simple token is not cryptographically signed",
}

// benignErrors are messages that are benign with certain errors: on a new
// data directory the storage version monitor looks before the first term
// or conf state is stored, logs a warning and an error, and succeeds on its
// next round (etcd-io/etcd#18978, #20495).
var benignErrors = map[string][]string{
	"Failed to detect schema version":  {"missing term information", "missing confstate information"},
	"failed to update storage version": {"missing term information", "missing confstate information"},
}

// newLogger is etcd's logger: JSON lines on stderr, as etcd writes them
// (see logutil.DefaultZapLoggerConfig), at level, without the benign
// messages.
func newLogger(level zap.AtomicLevel) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), level)
	return zap.New(quietCore{core}, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr)))
}

// quietCore drops the benign messages.
type quietCore struct{ zapcore.Core }

func (c quietCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if slices.Contains(benign, ent.Message) || !c.Enabled(ent.Level) {
		return ce
	}
	return ce.AddCore(ent, c)
}

func (c quietCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if errs, ok := benignErrors[ent.Message]; ok {
		for _, f := range fields {
			if err, isErr := f.Interface.(error); isErr && f.Key == "error" && slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(err.Error(), s) }) {
				return nil
			}
		}
	}
	return c.Core.Write(ent, fields)
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core {
	return quietCore{c.Core.With(fields)}
}

// lockFile is the file in the data directory that a running
// backendai-etcd holds locked and writes its pid to.
const lockFile = "backendai-etcd.lock"

// lockDataDir creates dir if missing and locks it for this process, so that
// a directory that cannot be written, or that another backendai-etcd uses,
// gets a plain message (etcd itself would wait forever for the database
// lock). The lock lasts as long as the returned file stays open.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another backendai-etcd (pid %s)", dir, strings.TrimSpace(string(pid)))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("data dir %s is not writable: %w", dir, err)
		}
	}
	return f, nil
}

// config is the embedded server's configuration for o; it logs at level.
func config(o options, level zap.AtomicLevel) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = o.name
	cfg.Dir = filepath.Clean(o.dataDir)
	cu := url.URL{Scheme: "http", Host: o.clientAddr}
	pu := url.URL{Scheme: "http", Host: o.peerAddr}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClusterState = embed.ClusterStateFlagNew // ignored once the data directory has a member
	// zap, JSON, warn, stderr (not journald, even under systemd); the
	// builder makes the logger those describe, less the benign messages.
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogFormat = "json"
	cfg.LogOutputs = []string{embed.StdErrLogOutput}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newLogger(level))
	// embed.NewConfig leaves this at 0, which logs every request as slow.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	// A development etcd runs for weeks: keep an hour of history, as
	// etcd --auto-compaction-retention=1 would, so the database stays small.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	return cfg
}

// start starts the server and waits until it serves clients.
func start(ctx context.Context, o options, level zap.AtomicLevel) (*embed.Etcd, error) {
	type started struct {
		e   *embed.Etcd
		err error
	}
	ch := make(chan started, 1)
	go func() {
		e, err := embed.StartEtcd(config(o, level))
		ch <- started{e, err}
	}()
	var e *embed.Etcd
	select {
	case s := <-ch:
		if s.err != nil {
			return nil, fmt.Errorf("cannot start etcd (client %s, peer %s, data %s): %w", o.clientAddr, o.peerAddr, o.dataDir, s.err)
		}
		e = s.e
	case <-ctx.Done():
		return nil, errors.New("interrupted while starting")
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, errors.New("interrupted while starting")
	}
}
