package kernelrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Interrupt sends `interrupt` (SIGINT to the running process, or a
// Jupyter interrupt) and returns {"status": "finished"}, as upstream's
// interrupt_kernel. The run's own result still comes through Execute.
func (c *Client) Interrupt(ctx context.Context) (map[string]any, error) {
	if err := c.send(ctx, msgInterrupt, nil); err != nil {
		return nil, fmt.Errorf("interrupt: %w", err)
	}
	return map[string]any{"status": "finished"}, nil
}

// Complete asks for code completions of text: `complete` with JSON
// {code: text, ...opts}. It returns the krunner's `completion` payload
// ({"suggestions": [...]}), or {"status": "failed", "error": "timeout"}
// when none comes within Options.CompleteTimeout.
func (c *Client) Complete(ctx context.Context, text string, opts map[string]any) (map[string]any, error) {
	payload := make(map[string]any, len(opts)+1)
	maps.Copy(payload, opts)
	payload["code"] = text
	return c.jsonRequest(ctx, "complete", msgComplete, payload, msgCompletion, c.opts.CompleteTimeout)
}

// StartService asks the krunner to start the in-container service name:
// `start-service` with JSON {name, ...opts}, where opts carries upstream's
// port, ports, protocol and options. It returns the `service-result`
// ({"status": "started"|"running"|"failed", "error"?}), or {"status":
// "failed", "error": "timeout"} after Options.ServiceTimeout.
func (c *Client) StartService(ctx context.Context, name string, opts map[string]any) (map[string]any, error) {
	payload := make(map[string]any, len(opts)+1)
	maps.Copy(payload, opts)
	payload["name"] = name
	return c.jsonRequest(ctx, "start service "+name, msgStartService, payload, msgServiceResult, c.opts.ServiceTimeout)
}

// ShutdownService asks the krunner to stop the service name; the krunner
// does not answer.
func (c *Client) ShutdownService(ctx context.Context, name string) error {
	payload, err := json.Marshal(name)
	if err != nil {
		return fmt.Errorf("shutdown service %s: %w", name, err)
	}
	if err := c.send(ctx, msgShutdownSvc, payload); err != nil {
		return fmt.Errorf("shutdown service %s: %w", name, err)
	}
	return nil
}

// SendEvent passes a container event to the krunner: `event` with JSON
// {type, data}; upstream sends {"type": "oom"} when the container hits
// its memory limit, and the krunner logs it. No answer comes.
func (c *Client) SendEvent(ctx context.Context, typ string, data any) error {
	payload, err := json.Marshal(map[string]any{"type": typ, "data": data})
	if err != nil {
		return fmt.Errorf("send event %s: %w", typ, err)
	}
	if err := c.send(ctx, msgEvent, payload); err != nil {
		return fmt.Errorf("send event %s: %w", typ, err)
	}
	return nil
}

// GetApps asks for the service apps the krunner knows (name "" for all):
// `get-apps`, answered by `apps-result` ({"status": "done", "data":
// [...]}), or {"status": "failed", "error": "timeout"} after
// Options.AppsTimeout.
func (c *Client) GetApps(ctx context.Context, name string) (map[string]any, error) {
	data, err := c.timedRequest(ctx, msgGetApps, []byte(name), msgAppsResult, c.opts.AppsTimeout)
	if err != nil {
		if errors.Is(err, errTimeout) {
			return timeoutResult(), nil
		}
		return nil, fmt.Errorf("get apps: %w", err)
	}
	return decodeObject("get apps", data)
}

// Status sends `status` and returns the krunner's start time (its
// started_at, seconds since the epoch) from the msgpack reply.
func (c *Client) Status(ctx context.Context) (float64, error) {
	data, err := c.request(ctx, msgStatus, nil, msgStatus)
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	var st struct {
		StartedAt float64 `msgpack:"started_at"`
	}
	if err := msgpack.Unmarshal(data, &st); err != nil {
		return 0, fmt.Errorf("status: decode reply: %w", err)
	}
	return st.StartedAt, nil
}

// WaitReady polls `status` every interval (0: DefaultReadyInterval) until
// the krunner answers or ctx ends, and returns its started_at. This is
// the readiness wait before kernel_started (spec §6.8); the caller checks
// GetApps after it.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) (float64, error) {
	if interval <= 0 {
		interval = DefaultReadyInterval
	}
	for {
		actx, cancel := context.WithTimeout(ctx, interval)
		startedAt, err := c.Status(actx)
		cancel()
		if err == nil {
			return startedAt, nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("wait for kernel runner: %w", ctx.Err())
		}
		// Only the attempt's own timeout is worth another try; a closed
		// client or a broken socket will not get better.
		if !errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("wait for kernel runner: %w", err)
		}
	}
}

// errTimeout marks a reply that did not come within a method's own
// timeout (not the caller's ctx).
var errTimeout = errors.New("kernelrunner: reply timeout")

// timedRequest is request bounded by timeout as well as ctx; it returns
// errTimeout when the timeout, not ctx, ran out.
func (c *Client) timedRequest(ctx context.Context, typ string, payload []byte, replyTyp string, timeout time.Duration) ([]byte, error) {
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	data, err := c.request(tctx, typ, payload, replyTyp)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), errTimeout) {
		return nil, errTimeout
	}
	return data, err
}

// jsonRequest sends a JSON payload and decodes the JSON object replied;
// a reply that does not come in time gives upstream's timeout dict.
func (c *Client) jsonRequest(ctx context.Context, what, typ string, payload any, replyTyp string, timeout time.Duration) (map[string]any, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", what, err)
	}
	data, err := c.timedRequest(ctx, typ, body, replyTyp, timeout)
	if err != nil {
		if errors.Is(err, errTimeout) {
			c.log.Warn("kernel runner reply timeout", "type", replyTyp, "timeout", timeout)
			return timeoutResult(), nil
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return decodeObject(what, data)
}

func timeoutResult() map[string]any {
	return map[string]any{"status": "failed", "error": "timeout"}
}

func decodeObject(what string, data []byte) (map[string]any, error) {
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: decode reply: %w", what, err)
	}
	return v, nil
}
