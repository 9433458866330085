package runner

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// go-zeromq's PUSH socket, once it has had a peer, sends to the peers it
// has at the moment and reports success when it has none: output the
// runner produced while the agent was away (restarting) would be lost,
// where libzmq would keep it queued. The runner's replout therefore
// listens through a TCP transport of its own that counts the accepted
// connections, and the sender waits for one before it sends (and tries
// again after a failed send), so that the outbox holds the output until
// an agent is there to take it.

// peerScheme is the endpoint scheme of that transport.
const peerScheme = "bai-krunner-tcp"

// A connection counts once it has read more than the peer's 64-byte ZMTP
// greeting (so the peer's READY command, the handshake's last step, is
// arriving) and peerSettle has passed since: go-zeromq adds a connection
// to the socket's writers right after the handshake, and a message sent
// before that would go nowhere.
const (
	zmtpGreeting = 64
	peerSettle   = time.Millisecond
)

var registerPeerTransport = sync.OnceValue(func() error {
	return zmq4.RegisterTransport(peerScheme, peerTransport{})
})

// peersKey carries a socket's *peers in the context it is made with,
// which go-zeromq hands to the transport's Listen.
type peersKey struct{}

// peers counts the live connections of one listening socket.
type peers struct {
	mu      sync.Mutex
	n       int
	newest  time.Time
	changed chan struct{} // closed and replaced at every change
}

func newPeers() *peers { return &peers{changed: make(chan struct{})} }

func (p *peers) add(d int) {
	p.mu.Lock()
	p.n += d
	if d > 0 {
		p.newest = time.Now()
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// wait returns once a connection has been there for peerSettle, or
// false when ctx ends first.
func (p *peers) wait(ctx context.Context) bool {
	for {
		p.mu.Lock()
		n, age, changed := p.n, time.Since(p.newest), p.changed
		p.mu.Unlock()
		if n > 0 && age >= peerSettle {
			return true
		}
		var settle <-chan time.Time // nil: no connection to wait on
		if n > 0 {
			settle = time.After(peerSettle - age)
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-settle:
		}
	}
}

// peerTransport is go-zeromq's TCP transport with counted connections.
type peerTransport struct{}

func (peerTransport) Dial(ctx context.Context, dialer transport.Dialer, addr string) (net.Conn, error) {
	return dialer.DialContext(ctx, "tcp", addr)
}

func (peerTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p, _ := ctx.Value(peersKey{}).(*peers)
	if p == nil {
		return l, nil
	}
	return &peerListener{Listener: l, peers: p}, nil
}

func (peerTransport) Addr(ep string) (string, error) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", err
	}
	switch port {
	case "*", "":
		port = "0"
	}
	if host == "" || host == "*" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, port), nil
}

type peerListener struct {
	net.Listener
	peers *peers
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &peerConn{Conn: c, peers: l.peers}, nil
}

// peerConn joins the count once its handshake is done (see zmtpGreeting)
// and leaves it when go-zeromq closes it (on an error or a peer that went
// away) or when a read or write fails.
type peerConn struct {
	net.Conn
	peers *peers
	// read counts bytes until the handshake is done; the reader is
	// go-zeromq's one goroutine per connection.
	read    int
	mu      sync.Mutex
	counted bool
	closed  bool
}

func (c *peerConn) joined() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.counted && !c.closed {
		c.counted = true
		c.peers.add(1)
	}
}

func (c *peerConn) gone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counted && !c.closed {
		c.peers.add(-1)
	}
	c.closed = true
}

func (c *peerConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.gone()
		return n, err
	}
	if c.read <= zmtpGreeting {
		if c.read += n; c.read > zmtpGreeting {
			c.joined()
		}
	}
	return n, err
}

func (c *peerConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.gone()
	}
	return n, err
}

func (c *peerConn) Close() error {
	c.gone()
	return c.Conn.Close()
}
