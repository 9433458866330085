package kernelrunner

import (
	"encoding/json"
	"log/slog"
	"strings"
)

// Result is one Execute call's outcome (upstream's NextResult).
type Result struct {
	RunID  string
	Status string // one of the Status constants
	// ExitCode is set by finished, build-finished and clean-finished
	// (when the krunner sent one).
	ExitCode *int
	// Options is set by waiting-input: {"is_password": bool}.
	Options map[string]any
	// Console holds the output items in order: ["stdout", string],
	// ["stderr", string], ["media", [2]any{mime, data}], ["html", string],
	// ["log", string]. Consecutive stdout (or stderr) records are
	// coalesced into one item.
	Console [][2]any
	// Files is always empty; the API keeps the key for compatibility.
	Files []any
	// APIVersion is the version Execute was called with; AsDict(0) uses
	// it.
	APIVersion int
}

func newResult(runID, status string, exitCode *int, options map[string]any, recs []record, apiVersion int, log *slog.Logger) Result {
	return Result{
		RunID:      runID,
		Status:     status,
		ExitCode:   exitCode,
		Options:    options,
		Console:    buildConsole(recs, log),
		Files:      []any{},
		APIVersion: apiVersion,
	}
}

// buildConsole turns records into console items as upstream's
// aggregate_console does for api ≥ 2: a stdout run is flushed when any
// other record comes, and likewise a stderr run.
func buildConsole(recs []record, log *slog.Logger) [][2]any {
	console := [][2]any{}
	var stdout, stderr strings.Builder
	flushOut := func() {
		if stdout.Len() > 0 {
			console = append(console, [2]any{msgStdout, stdout.String()})
			stdout.Reset()
		}
	}
	flushErr := func() {
		if stderr.Len() > 0 {
			console = append(console, [2]any{msgStderr, stderr.String()})
			stderr.Reset()
		}
	}
	for _, rec := range recs {
		if rec.typ != msgStdout {
			flushOut()
		}
		if rec.typ != msgStderr {
			flushErr()
		}
		switch rec.typ {
		case msgStdout:
			stdout.WriteString(rec.data)
		case msgStderr:
			stderr.WriteString(rec.data)
		case msgMedia:
			var m struct {
				Type string `json:"type"`
				Data any    `json:"data"`
			}
			if err := json.Unmarshal([]byte(rec.data), &m); err != nil {
				log.Warn("dropped malformed media record", "err", err, "size", len(rec.data))
				continue
			}
			console = append(console, [2]any{msgMedia, [2]any{m.Type, m.Data}})
		case msgHTML, msgLog, msgCompletion:
			console = append(console, [2]any{rec.typ, rec.data})
		}
	}
	flushOut()
	flushErr()
	return console
}

// AsDict is the result as the agent's `execute` RPC returns it. apiVersion
// 1 gives upstream's v1 shape {runId, status, exitCode, options, stdout,
// stderr, media, html, files}; 2 and later {runId, status, exitCode,
// options, console, files}. 0 means r.APIVersion. Tuples become lists, as
// they do on upstream's wire.
func (r Result) AsDict(apiVersion int) map[string]any {
	if apiVersion <= 0 {
		apiVersion = r.APIVersion
	}
	d := map[string]any{
		"runId":    r.RunID,
		"status":   r.Status,
		"exitCode": nil,
		"options":  nil,
		"files":    r.Files,
	}
	if r.Files == nil {
		d["files"] = []any{}
	}
	// Untyped nils: a typed nil pointer or map in an interface would not
	// encode as null everywhere.
	if r.ExitCode != nil {
		d["exitCode"] = *r.ExitCode
	}
	if r.Options != nil {
		d["options"] = r.Options
	}
	if apiVersion == 1 {
		var stdout, stderr strings.Builder
		media, html := []any{}, []any{}
		for _, it := range r.Console {
			switch it[0] {
			case msgStdout:
				s, _ := it[1].(string)
				stdout.WriteString(s)
			case msgStderr:
				s, _ := it[1].(string)
				stderr.WriteString(s)
			case msgMedia:
				media = append(media, listOf(it[1]))
			case msgHTML:
				html = append(html, it[1])
			}
		}
		d["stdout"] = stdout.String()
		d["stderr"] = stderr.String()
		d["media"] = media
		d["html"] = html
		return d
	}
	console := make([]any, 0, len(r.Console))
	for _, it := range r.Console {
		console = append(console, []any{it[0], listOf(it[1])})
	}
	d["console"] = console
	return d
}

// listOf turns a [2]any (a media item's [mime, data]) into a list and
// leaves anything else as it is.
func listOf(v any) any {
	if p, ok := v.([2]any); ok {
		return []any{p[0], p[1]}
	}
	return v
}
