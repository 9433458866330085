//go:build !slimrun

package main

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
)

// kernelReasonModule is the module of KernelLifecycleEventReason in
// 26.8 / main (common/events/event_types/kernel/types.py).
const kernelReasonModule = "ai.backend.common.events.event_types.kernel.types"

// ctlListFlags: list → list_kernels(agent_id=None), our extension.
func ctlListFlags(*commonFlags) ctlPrepare {
	return connected(ctlList)
}

// connected is the ctlPrepare of a command with nothing to check.
func connected(a ctlAction) ctlPrepare {
	return func([]string) (ctlAction, error) { return a, nil }
}

func ctlList(c *ctlClient) error {
	v, err := c.call("list_kernels", nil, nil)
	if err != nil {
		return err
	}
	kernels, ok := v.([]any)
	if !ok && v != nil {
		return fmt.Errorf("list_kernels: the agent answered %s, want a list", describeValue(v))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tIMAGE\tSTATUS\tCREATED\tEXIT")
	for _, k := range kernels {
		m := asStrMap(k)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(m["id"]), cell(m["image"]), cell(m["status"]),
			createdCell(m["created"]), cell(m["exit_code"]))
	}
	return tw.Flush()
}

// asStrMap returns a decoded dict with its keys as strings.
func asStrMap(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[jsonKey(k)] = e
		}
		return m
	}
	return nil
}

// cell shows a value in a table: "-" for None.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		return x
	}
	switch j := jsonValue(v).(type) {
	case string:
		return j
	case int64, uint64, float64, bool:
		return fmt.Sprint(j)
	}
	return compactJSON(v)
}

// createdCell shows unix seconds as local time.
func createdCell(v any) string {
	var secs float64
	switch x := v.(type) {
	case float64:
		secs = x
	case int64:
		secs = float64(x)
	case uint64:
		secs = float64(x)
	case time.Time:
		return x.Local().Format(time.DateTime)
	default:
		return cell(v)
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).Local().Format(time.DateTime)
}

// ctlLogsFlags: logs ID → get_logs(kernel_id, agent_id=None) = {"logs": str}.
func ctlLogsFlags(*commonFlags) ctlPrepare {
	return func(pos []string) (ctlAction, error) {
		return func(c *ctlClient) error { return ctlLogs(c, pos[0]) }, nil
	}
}

func ctlLogs(c *ctlClient, kernel string) error {
	v, err := c.call("get_logs", []any{kernel}, nil)
	if err != nil {
		return err
	}
	m := asStrMap(v)
	logs, ok := m["logs"]
	if !ok {
		return fmt.Errorf("get_logs: the agent answered %s, want a dict with \"logs\"", describeValue(v))
	}
	var text string
	switch x := logs.(type) {
	case string:
		text = x
	case []byte:
		text = string(x)
	case nil:
	default:
		return fmt.Errorf("get_logs: \"logs\" is %s, want a str", describeValue(logs))
	}
	_, err = fmt.Fprint(c.stdout, text)
	return err
}

// ctlDestroyFlags: destroy ID → destroy_kernel(kernel_id, session_id,
// reason, suppress_events=False, agent_id=None).
func ctlDestroyFlags(fs *commonFlags) ctlPrepare {
	session := fs.String("session", "", "the kernel's session id (default: the kernel id, as ctl create makes them)")
	reason := fs.String("reason", string(events.ReasonUserRequested), "KernelLifecycleEventReason value (another text is sent as a plain str)")
	return func(pos []string) (ctlAction, error) {
		kernel := pos[0]
		sid := *session
		if sid == "" {
			sid = kernel
		}
		var why any = *reason
		if r := events.KernelReason(*reason); r.Valid() {
			why = codec.Enum{Module: kernelReasonModule, Class: "KernelLifecycleEventReason", Value: string(r)}
		}
		return func(c *ctlClient) error { return ctlDestroy(c, kernel, sid, why) }, nil
	}
}

func ctlDestroy(c *ctlClient, kernel, sid string, why any) error {
	if _, err := c.call("destroy_kernel", []any{kernel, sid, why}, map[string]any{"suppress_events": false}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "destroyed %s\n", kernel)
	return nil
}

// ctlHwinfoFlags: hwinfo → gather_hwinfo(agent_id=None).
func ctlHwinfoFlags(*commonFlags) ctlPrepare {
	return connected(ctlHwinfo)
}

func ctlHwinfo(c *ctlClient) error {
	v, err := c.call("gather_hwinfo", nil, nil)
	if err != nil {
		return err
	}
	return printJSON(c.stdout, v)
}

// kwargList is a repeatable NAME=JSON flag.
type kwargList []string

func (l *kwargList) String() string     { return strings.Join(*l, " ") }
func (l *kwargList) Set(s string) error { *l = append(*l, s); return nil }

// ctlCallFlags: call METHOD [JSON-ARG...] → METHOD(*args, agent_id=None, **kwargs).
func ctlCallFlags(fs *commonFlags) ctlPrepare {
	var kwargs kwargList
	fs.Var(&kwargs, "kwarg", "keyword argument NAME=JSON (repeatable; agent_id=null is sent unless given)")
	return func(pos []string) (ctlAction, error) {
		args := make([]any, 0, len(pos)-1)
		for _, s := range pos[1:] {
			v, err := parseJSONArg(s)
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		kw := make(map[string]any, len(kwargs))
		for _, s := range kwargs {
			name, value, ok := strings.Cut(s, "=")
			if !ok || name == "" {
				return nil, fmt.Errorf("--kwarg %q: want NAME=JSON", s)
			}
			v, err := parseJSONArg(value)
			if err != nil {
				return nil, fmt.Errorf("--kwarg %s: %w", name, err)
			}
			kw[name] = v
		}
		return func(c *ctlClient) error {
			v, err := c.call(pos[0], args, kw)
			if err != nil {
				return err
			}
			return printJSON(c.stdout, v)
		}, nil
	}
}
