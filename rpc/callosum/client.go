package callosum

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// DefaultHandshakeTimeout is how long Dial waits for the first PONG, as
// upstream's connector does.
const DefaultHandshakeTimeout = 5 * time.Second

// ClientOptions configure Dial.
type ClientOptions struct {
	// Curve, when set, makes the socket a CURVE client.
	Curve *ClientCurve
	// HandshakeTimeout bounds the connect-time PING; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxFrameBytes bounds a reply frame; 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// Log receives the client's lines; nil discards them.
	Log *slog.Logger
}

// ClientCurve hold z85 keys: the server's public key and the client's pair.
type ClientCurve struct {
	ServerPublicKey string
	PublicKey       string
	SecretKey       string
}

// Client calls a Callosum server over a DEALER socket. Its methods are safe
// for concurrent use.
type Client struct {
	log  *slog.Logger
	zctx *zmq.Context
	sock *zmq.Socket // owned by the run goroutine
	mbox *mailbox[[][]byte]
	seq  atomic.Uint32
	tok  atomic.Uint64

	mu      sync.Mutex
	pending map[pendingKey]chan reply
	pings   map[string]chan struct{}
	closed  bool

	stop chan struct{}
	done chan struct{}
}

type pendingKey struct {
	method string
	seq    uint32
}

// reply is what the run goroutine hands to a waiting Call.
type reply struct {
	body []byte
	err  error
}

// Dial connects to a server at addr ("host:port" or "tcp://host:port") and
// waits for the answer to a PING, as upstream's connector does; it fails
// with ErrHandshake when none comes within the handshake timeout.
func Dial(ctx context.Context, addr string, opts ClientOptions) (*Client, error) {
	ep, ipv6, err := endpoint(addr)
	if err != nil {
		return nil, err
	}
	if strings.Contains(ep, "*") {
		return nil, fmt.Errorf("dial %q: needs a host and a port", addr)
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		log:     opts.Log,
		pending: make(map[pendingKey]chan reply),
		pings:   make(map[string]chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := c.open(ep, ipv6, opts); err != nil {
		c.release()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	go c.run(opts.MaxFrameBytes)

	hctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	if err := c.Ping(hctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("dial %s: %w", addr, ErrHandshake)
	}
	return c, nil
}

func (c *Client) open(ep string, ipv6 bool, opts ClientOptions) error {
	var err error
	if c.zctx, err = zmq.NewContext(); err != nil {
		return fmt.Errorf("zmq context: %w", err)
	}
	if c.mbox, err = newMailbox[[][]byte](c.zctx, "callosum-client-mailbox"); err != nil {
		return err
	}
	if c.sock, err = c.zctx.NewSocket(zmq.DEALER); err != nil {
		return fmt.Errorf("dealer socket: %w", err)
	}
	steps := []func() error{
		func() error { return c.sock.SetLinger(DefaultLinger) },
		func() error { return c.sock.SetMaxmsgsize(int64(opts.MaxFrameBytes)) },
		func() error { return c.sock.SetSndhwm(0) },
		// A DEALER with no connected peer (a refused CURVE handshake, a
		// server gone) blocks in send: bound it, so the socket's owner
		// still sees a Close.
		func() error { return c.sock.SetSndtimeo(sendTimeout) },
		func() error { return c.sock.SetIpv6(ipv6) },
	}
	if k := opts.Curve; k != nil {
		steps = append(steps,
			func() error { return c.sock.SetZapDomain(ZAPDomain) },
			func() error { return c.sock.SetCurveServerkey(k.ServerPublicKey) },
			func() error { return c.sock.SetCurvePublickey(k.PublicKey) },
			func() error { return c.sock.SetCurveSecretkey(k.SecretKey) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("dealer socket: %w", err)
		}
	}
	if err := c.sock.Connect(ep); err != nil {
		return fmt.Errorf("connect %s: %w", ep, err)
	}
	return nil
}

// Call invokes method with a Backend.AI-serialized body and returns the
// RESULT's body. A FAILURE or ERROR reply is a *RemoteError; a CANCELLED
// one ErrCancelled. When ctx ends first, Call sends CANCEL and returns
// ctx's error.
func (c *Client) Call(ctx context.Context, method string, body []byte) ([]byte, error) {
	seq := c.seq.Add(1) - 1
	key := pendingKey{method: method, seq: seq}
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.pending[key] = ch
	c.mu.Unlock()

	hdr := header{typ: TypeFunction, method: method, seq: seq}
	c.mbox.post([][]byte{[]byte(markUpper), encodeHeader(hdr), encodeBody(nil, nonNil(body))})
	select {
	case r := <-ch:
		return r.body, r.err
	case <-ctx.Done():
		c.forget(key)
		hdr.typ = TypeCancel
		c.mbox.post([][]byte{[]byte(markUpper), encodeHeader(hdr), encodeBody(metaEmptyList, nil)})
		return nil, fmt.Errorf("rpc %s: %w", method, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

func (c *Client) forget(key pendingKey) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

// Ping sends PING and waits for the PONG.
func (c *Client) Ping(ctx context.Context) error {
	var tok [8]byte
	binary.BigEndian.PutUint64(tok[:], c.tok.Add(1))
	ch := make(chan struct{})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.pings[string(tok[:])] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pings, string(tok[:]))
		c.mu.Unlock()
	}()
	c.mbox.post([][]byte{[]byte(markPing), tok[:], {}})
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ctx.Err())
	case <-c.done:
		return ErrClosed
	}
}

// sendTimeout bounds a request's send when no peer is connected; the
// request is dropped and its call ends at its context's deadline.
const sendTimeout = time.Second

// Close stops the client; calls still waiting return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.mbox.poke()
	<-c.done
	return nil
}

// run owns the socket: it sends what Call and Ping post and routes replies.
func (c *Client) run(limit int) {
	defer close(c.done)
	defer c.release()
	poller := zmq.NewPoller()
	poller.Add(c.sock, zmq.POLLIN)
	poller.Add(c.mbox.pull, zmq.POLLIN)
	var spare [][][]byte
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		// The mailbox's wake-up is the fast path; the timeout bounds what
		// a lost one could cost (a stop or a request that is never seen).
		polled, err := poller.Poll(pollTick)
		if err != nil {
			c.log.Warn("poll rpc client socket", "err", err)
			return
		}
		if len(polled) == 0 && c.mbox.pending() {
			spare = c.sendQueued(spare)
		}
		for _, p := range polled {
			switch p.Socket {
			case c.sock:
				c.receive(limit)
			case c.mbox.pull:
				spare = c.sendQueued(spare)
			}
		}
	}
}

// sendQueued sends the requests posted to the mailbox and returns the
// emptied queue for the next take.
func (c *Client) sendQueued(spare [][][]byte) [][][]byte {
	out := c.mbox.take(spare)
	for _, frames := range out {
		if _, err := c.sock.SendMessage(frames); err != nil {
			c.log.Debug("rpc request not sent", "err", err)
		}
	}
	return out
}

// receive routes the replies waiting on the socket.
func (c *Client) receive(limit int) {
	for range readBatch {
		m, err := recvMessage(c.sock, limit)
		if err != nil {
			return
		}
		if m.size > limit || m.count != 3 {
			c.log.Debug("dropped malformed RPC reply", "frames", m.count, "size", m.size)
			continue
		}
		switch string(m.frames[0]) {
		case markPong:
			c.mu.Lock()
			if ch, ok := c.pings[string(m.frames[1])]; ok {
				close(ch)
				delete(c.pings, string(m.frames[1]))
			}
			c.mu.Unlock()
		case markUpper:
			c.deliver(m.frames[1], m.frames[2], limit)
		default:
			c.log.Debug("dropped malformed RPC reply", "frames", m.count)
		}
	}
}

// deliver decodes a reply and hands it to its Call.
func (c *Client) deliver(rawHdr, rawBody []byte, limit int) {
	h, err := decodeHeader(rawHdr)
	if err != nil {
		c.log.Debug("dropped malformed RPC reply", "err", err)
		return
	}
	key := pendingKey{method: h.method, seq: h.seq}
	c.mu.Lock()
	ch, ok := c.pending[key]
	if ok {
		delete(c.pending, key)
	}
	c.mu.Unlock()
	if !ok {
		c.log.Debug("dropped RPC reply of no waiting call", "type", h.typ.String(), "method", h.method, "seq", h.seq)
		return
	}
	ch <- decodeReply(h, rawBody, limit)
}

// decodeReply turns a reply's header and body into a Call's outcome.
func decodeReply(h header, rawBody []byte, limit int) reply {
	meta, body, err := decodeBody(rawBody, h.zip, limit)
	if err != nil {
		return reply{err: fmt.Errorf("rpc %s: %s reply: %w", h.method, h.typ, err)}
	}
	switch h.typ {
	case TypeResult:
		return reply{body: body}
	case TypeCancelled:
		return reply{err: fmt.Errorf("rpc %s: %w", h.method, ErrCancelled)}
	case TypeFailure, TypeError:
		name, repr, tb, err := decodeErrorMeta(meta)
		if err != nil {
			return reply{err: fmt.Errorf("rpc %s: %s reply: %w", h.method, h.typ, err)}
		}
		return reply{err: &RemoteError{Kind: h.typ, Method: h.method, Name: name, Repr: repr, Traceback: tb}}
	}
	return reply{err: fmt.Errorf("rpc %s: unexpected %s reply: %w", h.method, h.typ, errMalformed)}
}

// release closes the socket, the mailbox and the context, and fails the
// calls still waiting. Called once, by run or by a failed Dial.
func (c *Client) release() {
	c.mu.Lock()
	c.closed = true
	for k, ch := range c.pending {
		ch <- reply{err: ErrClosed}
		delete(c.pending, k)
	}
	c.mu.Unlock()
	if c.sock != nil {
		c.sock.Close()
	}
	if c.mbox != nil {
		c.mbox.close()
	}
	if c.zctx != nil {
		if err := c.zctx.Term(); err != nil && !errors.Is(err, zmq.ETERM) {
			c.log.Warn("zmq context not terminated", "err", err)
		}
	}
}
