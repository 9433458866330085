package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// ComponentKey is the attribute that names a log line's component.
const ComponentKey = "component"

// Format is the layout of a console or file log line.
type Format string

// Formats of upstream's [logging.console] and [logging.file] `format`.
const (
	FormatSimple  Format = "simple"  // LEVEL component: message k=v
	FormatVerbose Format = "verbose" // time LEVEL component [pid] message k=v
	FormatJSON    Format = "json"    // one JSON object per line
)

// textHandler writes upstream-looking lines: simple or verbose, optionally
// with ANSI colors on the level.
type textHandler struct {
	mu      *sync.Mutex
	w       io.Writer
	verbose bool
	color   bool
	pid     int
	// component is the value of a component attribute given through WithAttrs.
	component string
	// pre holds attributes already given through WithAttrs, formatted.
	pre    []byte
	groups string
}

func newTextHandler(w io.Writer, format Format, color bool) *textHandler {
	return &textHandler{mu: &sync.Mutex{}, w: w, verbose: format == FormatVerbose, color: color, pid: os.Getpid()}
}

// Enabled is decided by the levelFilter in front of this handler.
func (h *textHandler) Enabled(context.Context, slog.Level) bool { return true }

var levelColors = map[string]string{
	"TRACE": "\x1b[90m", "DEBUG": "\x1b[36m", "INFO": "\x1b[32m",
	"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m",
}

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if h.verbose {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		b.WriteString(t.Format("2006-01-02 15:04:05.000"))
		b.WriteByte(' ')
	}
	name := levelName(r.Level)
	if h.color {
		b.WriteString(levelColors[name])
		b.WriteString(name)
		b.WriteString("\x1b[0m")
	} else {
		b.WriteString(name)
	}
	comp := h.component
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ComponentKey && h.groups == "" {
			comp = a.Value.String()
		}
		return true
	})
	if comp != "" {
		b.WriteByte(' ')
		b.WriteString(comp)
	}
	if h.verbose {
		fmt.Fprintf(&b, " [%d]", h.pid)
	}
	b.WriteString(": ")
	b.WriteString(r.Message)
	b.Write(h.pre)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ComponentKey && h.groups == "" {
			return true
		}
		appendAttr(&b, h.groups, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

func (h *textHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.pre = append([]byte(nil), h.pre...)
	for _, a := range attrs {
		if a.Key == ComponentKey && h.groups == "" {
			c.component = a.Value.String()
			continue
		}
		var b bytes.Buffer
		appendAttr(&b, h.groups, a)
		c.pre = append(c.pre, b.Bytes()...)
	}
	return &c
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = h.groups + name + "."
	return &c
}

// appendAttr writes " key=value", quoting values that need it and flattening
// groups into dotted keys.
func appendAttr(b *bytes.Buffer, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	var v string
	switch a.Value.Kind() {
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	default:
		v = a.Value.String()
	}
	if needsQuote(v) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r >= 0x7f {
			return true
		}
	}
	return false
}

// levelFilter decides, per component, which records pass. The component is
// learned from WithAttrs (logger.With("component", ...)) or, failing that,
// from the record itself.
type levelFilter struct {
	next       slog.Handler
	root       slog.Level
	components map[string]slog.Level
	min        slog.Level // lowest level of root and all components
	level      *slog.Level
}

func (f *levelFilter) Enabled(_ context.Context, l slog.Level) bool {
	if f.level != nil {
		return l >= *f.level
	}
	// Without a known component a record may still name one itself.
	return l >= f.min
}

func (f *levelFilter) Handle(ctx context.Context, r slog.Record) error {
	if f.level == nil {
		lv := f.root
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == ComponentKey {
				if c, ok := f.components[a.Value.String()]; ok {
					lv = c
				}
				return false
			}
			return true
		})
		if r.Level < lv {
			return nil
		}
	}
	return f.next.Handle(ctx, r)
}

func (f *levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *f
	for _, a := range attrs {
		if a.Key == ComponentKey {
			lv := f.root
			if l, ok := f.components[a.Value.String()]; ok {
				lv = l
			}
			c.level = &lv
		}
	}
	c.next = f.next.WithAttrs(attrs)
	return &c
}

func (f *levelFilter) WithGroup(name string) slog.Handler {
	c := *f
	c.next = f.next.WithGroup(name)
	return &c
}

// fanout sends each record to every driver.
type fanout []slog.Handler

func (m fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range m {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (m fanout) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range m {
		if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(m))
	for i, h := range m {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (m fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(m))
	for i, h := range m {
		out[i] = h.WithGroup(name)
	}
	return out
}
