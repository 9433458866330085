//go:build !slimrun

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
)

const ctlUsage = `usage: backendai-agent ctl [--addr tcp://HOST:PORT] [--timeout D] [-f agent.toml] <command> [flags]

Calls the agent's RPC (Callosum over ZeroMQ) as Backend.AI's manager does.

commands:
  ping [--count N]             call ping; print the round trip (p50/p99 with --count)
  create IMAGE [--cpu N] [--mem SIZE] [--env K=V]... [--mount SRC:DST[:ro|rw]]...
         [--net bridge|host|none] [--id UUID] [--cmd 'startup command']
                               create_kernels with one kernel; print its id and ports
  list                         list_kernels: the agent's kernels as a table
  logs ID                      get_logs: print a kernel's output
  destroy ID [--session SID] [--reason R]
                               destroy_kernel (reason default user-requested)
  hwinfo                       gather_hwinfo, printed as JSON
  exec [--mode query|batch] ID CODE...
                               execute in the kernel's runner; stream its output and exit
                               with the code's exit status (input() reads a line of stdin)
  call [--kwarg NAME=JSON]... METHOD [JSON-ARG...]
                               any method, its positional args given as JSON (a word
                               that is not JSON is a str; flags go before METHOD);
                               prints the result as JSON

--addr defaults to agent.rpc-listen-addr of agent.toml (found as by the other
commands; a wildcard host means 127.0.0.1), else tcp://127.0.0.1:6001.
CURVE: --keypair FILE (the manager's ZeroMQ certificate, with its secret key)
and --server-key Z85 (the agent's public key; default: the public key of the
config's agent.rpc-auth-agent-keypair).
`

// Defaults of ctl.
const (
	ctlDefaultAddr    = "tcp://127.0.0.1:6001"
	ctlDefaultTimeout = 60 * time.Second
)

// ctlOptions are the flags every ctl command takes.
type ctlOptions struct {
	addr      string
	timeout   time.Duration
	serverKey string
	keypair   string
}

// register adds the ctl-wide flags to fs, keeping their current values.
func (o *ctlOptions) register(fs *commonFlags) {
	fs.StringVar(&o.addr, "addr", o.addr, "the agent's RPC address, tcp://HOST:PORT (default: agent.rpc-listen-addr)")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "how long to wait for the agent: the connect and each call")
	fs.StringVar(&o.serverKey, "server-key", o.serverKey, "the agent's CURVE public key, z85 (default: from agent.rpc-auth-agent-keypair)")
	fs.StringVar(&o.keypair, "keypair", o.keypair, "ZeroMQ certificate file with the manager's CURVE keypair (enables CURVE)")
}

// ctlCommand is one ctl subcommand.
type ctlCommand struct {
	args  int  // positional arguments wanted; -1: at least one
	raw   bool // positionals after the first are taken verbatim (call)
	flags func(fs *commonFlags) ctlPrepare
}

// ctlPrepare checks a command's arguments and flags, before connecting,
// and returns what to do once connected.
type ctlPrepare func(pos []string) (ctlAction, error)

// ctlAction runs a command on a connected client.
type ctlAction func(c *ctlClient) error

var ctlCommands = map[string]ctlCommand{
	"ping":    {args: 0, flags: ctlPingFlags},
	"create":  {args: 1, flags: ctlCreateFlags},
	"list":    {args: 0, flags: ctlListFlags},
	"logs":    {args: 1, flags: ctlLogsFlags},
	"destroy": {args: 1, flags: ctlDestroyFlags},
	"hwinfo":  {args: 0, flags: ctlHwinfoFlags},
	"call":    {args: -1, raw: true, flags: ctlCallFlags},
	"exec":    {args: -1, raw: true, flags: ctlExecFlags},
}

// runCtl is `backendai-agent ctl`.
func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := ctlOptions{timeout: ctlDefaultTimeout}
	global := newFlagSet("ctl", stderr)
	opts.register(global)
	global.Usage = func() { fmt.Fprint(stderr, ctlUsage) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if global.NArg() == 0 {
		fmt.Fprint(stderr, ctlUsage)
		return exitUsage
	}
	name := global.Arg(0)
	if name == "help" {
		fmt.Fprint(stdout, ctlUsage)
		return exitOK
	}
	cmd, ok := ctlCommands[name]
	if !ok {
		fmt.Fprintf(stderr, "backendai-agent ctl: unknown command %q\n\n%s", name, ctlUsage)
		return exitUsage
	}
	fs := newFlagSet("ctl "+name, stderr)
	fs.configFile, fs.debug, fs.logLevel = global.configFile, global.debug, global.logLevel
	opts.register(fs)
	prepare := cmd.flags(fs)
	pos, err := parseInterspersed(fs, global.Args()[1:], cmd.raw)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if (cmd.args >= 0 && len(pos) != cmd.args) || (cmd.args < 0 && len(pos) == 0) {
		fmt.Fprintf(stderr, "backendai-agent ctl %s: wrong number of arguments\n\n%s", name, ctlUsage)
		return exitUsage
	}
	action, err := prepare(pos)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent ctl %s: %v\n", name, err)
		return exitUsage
	}
	if opts.timeout <= 0 {
		fmt.Fprintln(stderr, "backendai-agent ctl: --timeout must be positive")
		return exitUsage
	}
	dial, err := ctlDialOptions(fs, &opts, stderr)
	if err != nil {
		if errors.Is(err, errCtlUsage) {
			return exitUsage
		}
		return exitFailure
	}
	c, err := dialCtl(ctx, dial)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent ctl: %v\n", err)
		return exitFailure
	}
	defer c.close()
	c.stdout, c.stderr = stdout, stderr
	if err := action(c); err != nil {
		var ec exitCodeError
		if errors.As(err, &ec) {
			return ec.code
		}
		printCtlError(stderr, err)
		return exitFailure
	}
	return exitOK
}

// errCtlUsage marks a bad command line already reported.
var errCtlUsage = errors.New("usage")

// ctlDial is where and how to connect.
type ctlDial struct {
	addr    string // tcp://host:port
	timeout time.Duration
	curve   *callosum.ClientCurve
	log     *slog.Logger
}

// ctlDialOptions resolves the address and the CURVE keys from the flags
// and, when needed, agent.toml. Errors are reported on stderr.
func ctlDialOptions(fs *commonFlags, o *ctlOptions, stderr io.Writer) (ctlDial, error) {
	d := ctlDial{timeout: o.timeout, log: slog.New(slog.DiscardHandler)}
	if fs.debug {
		d.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var agentKeypair, confPath string
	if o.addr == "" || fs.configFile != "" {
		lc, err := loadConfig(fs.configFile, false)
		if err != nil {
			printProblems(stderr, err)
			return d, err
		}
		confPath = lc.path
		if lc.path != "" {
			agentKeypair = lc.cfg.Agent.RPCAuthAgentKeypair
			if o.addr == "" {
				hp := lc.cfg.Agent.RPCListenAddr
				host := hp.Host
				if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
					host = "127.0.0.1"
				}
				o.addr = "tcp://" + net.JoinHostPort(host, strconv.Itoa(hp.Port))
			}
		}
	}
	if o.addr == "" {
		o.addr = ctlDefaultAddr
	}
	d.addr = o.addr
	if !strings.Contains(d.addr, "://") {
		d.addr = "tcp://" + d.addr
	}
	switch {
	case o.keypair != "":
		pub, sec, err := callosum.LoadCertificate(o.keypair)
		if err != nil {
			fmt.Fprintf(stderr, "backendai-agent ctl: --keypair: %v\n", err)
			return d, err
		}
		if sec == "" {
			fmt.Fprintf(stderr, "backendai-agent ctl: --keypair %s has no secret-key\n", o.keypair)
			return d, errCtlUsage
		}
		server := o.serverKey
		if server == "" && agentKeypair != "" {
			if server, _, err = callosum.LoadCertificate(agentKeypair); err != nil {
				fmt.Fprintf(stderr, "backendai-agent ctl: agent.rpc-auth-agent-keypair: %v (give --server-key)\n", err)
				return d, err
			}
		}
		if server == "" {
			fmt.Fprintln(stderr, "backendai-agent ctl: --keypair needs the agent's public key: give --server-key Z85")
			return d, errCtlUsage
		}
		d.curve = &callosum.ClientCurve{ServerPublicKey: server, PublicKey: pub, SecretKey: sec}
	case o.serverKey != "":
		fmt.Fprintln(stderr, "backendai-agent ctl: --server-key needs --keypair (the manager's keypair)")
		return d, errCtlUsage
	case agentKeypair != "":
		fmt.Fprintf(stderr, "backendai-agent ctl: the agent uses CURVE (agent.rpc-auth-agent-keypair in %s): give --keypair FILE with the manager's keypair\n", confPath)
		return d, errCtlUsage
	}
	return d, nil
}

// ctlClient is a connected ctl.
type ctlClient struct {
	rpc     *callosum.Client
	addr    string
	timeout time.Duration
	ctx     context.Context
	stdout  io.Writer
	stderr  io.Writer
}

// dialCtl connects; a server that does not answer the handshake gets the
// "is it running?" message.
func dialCtl(ctx context.Context, d ctlDial) (*ctlClient, error) {
	rpc, err := callosum.Dial(ctx, d.addr, callosum.ClientOptions{
		Curve:            d.curve,
		HandshakeTimeout: min(d.timeout, callosum.DefaultHandshakeTimeout),
		Log:              d.log,
	})
	switch {
	case err == nil:
		return &ctlClient{rpc: rpc, addr: d.addr, timeout: d.timeout, ctx: ctx}, nil
	case errors.Is(err, callosum.ErrHandshake) && d.curve != nil:
		return nil, fmt.Errorf("no agent answering at %s: is it running, and does it admit this keypair?", d.addr)
	case errors.Is(err, callosum.ErrHandshake):
		return nil, fmt.Errorf("no agent answering at %s: is it running?", d.addr)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("connect to %s: interrupted", d.addr)
	}
	return nil, err
}

func (c *ctlClient) close() { _ = c.rpc.Close() }

// call sends method(args..., **kwargs) with kwarg agent_id=None as the
// manager does (unless kwargs sets it), and decodes the result.
func (c *ctlClient) call(method string, args []any, kwargs map[string]any) (any, error) {
	kw := map[string]any{"agent_id": nil}
	for k, v := range kwargs {
		kw[k] = v
	}
	if args == nil {
		args = []any{}
	}
	body, err := codec.Encode(map[string]any{"args": args, "kwargs": kw})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	out, err := c.rpc.Call(ctx, method, body)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil:
			return nil, fmt.Errorf("%s: no reply from %s within %s", method, c.addr, c.timeout)
		case c.ctx.Err() != nil:
			return nil, fmt.Errorf("%s: interrupted", method)
		}
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	v, err := codec.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("%s: result: %w", method, err)
	}
	return v, nil
}

// printCtlError reports a failed call: a FAILURE or ERROR reply as
// "<ExceptionName>: <repr>".
func printCtlError(w io.Writer, err error) {
	if re, ok := errors.AsType[*callosum.RemoteError](err); ok {
		fmt.Fprintf(w, "backendai-agent ctl: %s: %s\n", re.Name, re.Repr)
		return
	}
	fmt.Fprintf(w, "backendai-agent ctl: %v\n", err)
}

// ctlPingFlags: ping [--count N].
func ctlPingFlags(fs *commonFlags) ctlPrepare {
	count := fs.Int("count", 1, "number of pings; above 1 prints p50/p99 of the round trips")
	return func([]string) (ctlAction, error) {
		if *count < 1 {
			return nil, errors.New("--count must be at least 1")
		}
		return func(c *ctlClient) error { return ctlPing(c, *count) }, nil
	}
}

// ctlPing: ping(msg, agent_id=None), count times.
func ctlPing(c *ctlClient, count int) error {
	rtts := make([]time.Duration, 0, count)
	for range count {
		msg := "ctl-" + randomID()
		start := time.Now()
		v, err := c.call("ping", []any{msg}, nil)
		rtt := time.Since(start)
		if err != nil {
			return err
		}
		if s, ok := v.(string); !ok || s != msg {
			return fmt.Errorf("ping: the agent answered %s, want %q", describeValue(v), msg)
		}
		rtts = append(rtts, rtt)
	}
	if len(rtts) == 1 {
		fmt.Fprintf(c.stdout, "pong %s\n", roundRTT(rtts[0]))
		return nil
	}
	slices.Sort(rtts)
	fmt.Fprintf(c.stdout, "pong count=%d min=%s p50=%s p99=%s max=%s\n", len(rtts),
		roundRTT(rtts[0]), roundRTT(percentile(rtts, 50)), roundRTT(percentile(rtts, 99)), roundRTT(rtts[len(rtts)-1]))
	return nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func roundRTT(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// describeValue shows a decoded value in a message.
func describeValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("a %s", codec.TypeName(v))
}

// newUUID4 returns a random version-4 UUID.
func newUUID4() codec.UUID {
	var u codec.UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}
