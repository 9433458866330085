package callosum

import (
	"log/slog"

	"github.com/baiagent/agent/rpc/zmq"
)

// ZAP (ZeroMQ RFC 27) as upstream's ZAPServer answers it.
const zapVersion = "1.0"

// zapRequest is the part of a ZAP request the decision needs.
type zapRequest struct {
	requestID string
	domain    string
	address   string
	mechanism string
	creds     []string
}

// serveZAP answers the ZAP request waiting on sock (a REP socket), if any:
// only mechanism CURVE in domain ZAPDomain with the manager's key passes.
func serveZAP(sock *zmq.Socket, managerKey string, log *slog.Logger, st *counters) {
	frames, err := sock.RecvMessage(zmq.DONTWAIT)
	if err != nil {
		return // EAGAIN
	}
	if len(frames) < 2 {
		// A REP socket must answer whatever it read.
		st.rejected.Add(1)
		log.Warn("malformed ZAP request", "frames", len(frames))
		sendZAP(sock, "", "400", "Not enough frames", "", log)
		return
	}
	if len(frames) < 6 {
		st.rejected.Add(1)
		log.Warn("malformed ZAP request", "frames", len(frames))
		sendZAP(sock, frames[1], "400", "Not enough frames", "", log)
		return
	}
	if frames[0] != zapVersion {
		st.rejected.Add(1)
		log.Warn("malformed ZAP request", "version", truncate(frames[0]))
		sendZAP(sock, frames[1], "400", "Invalid version", "", log)
		return
	}
	req := zapRequest{requestID: frames[1], domain: frames[2], address: frames[3], mechanism: frames[5], creds: frames[6:]}
	code, text := authorize(req, managerKey)
	if code != "200" {
		st.rejected.Add(1)
		log.Warn("rejected RPC client", "peer_addr", req.address, "mechanism", truncate(req.mechanism), "reason", text)
		sendZAP(sock, req.requestID, code, text, "", log)
		return
	}
	log.Debug("admitted RPC client", "peer_addr", req.address)
	sendZAP(sock, req.requestID, code, text, zapUserID, log)
}

// authorize decides a ZAP request: status code and text.
func authorize(req zapRequest, managerKey string) (code, text string) {
	switch {
	case req.mechanism != "CURVE":
		return "400", "Unsupported authentication mechanism"
	case len(req.creds) != 1 || len(req.creds[0]) != 32:
		return "400", "Invalid credentials"
	case req.domain != ZAPDomain:
		return "400", "Access denied"
	case zmq.Z85encode(req.creds[0]) != managerKey:
		return "400", "Access denied"
	}
	return "200", "OK"
}

func sendZAP(sock *zmq.Socket, requestID, code, text, userID string, log *slog.Logger) {
	if _, err := sock.SendMessage(zapVersion, requestID, code, text, userID, ""); err != nil {
		log.Warn("ZAP reply not sent", "err", err)
	}
}
