package events

import "github.com/baiagent/agent/rpc/codec"

// Event names of a session's executions and batch results.
const (
	NameExecutionStarted  = "execution_started"
	NameExecutionFinished = "execution_finished"
	NameExecutionTimeout  = "execution_timeout"
	NameSessionSuccess    = "session_success"
	NameSessionFailure    = "session_failure"
)

// ExecutionStarted, ExecutionFinished and ExecutionTimeout are upstream's
// Execution*Event around an execute call: anycast, (session_id,).
func ExecutionStarted(sessionID codec.UUID) Event { return execution(NameExecutionStarted, sessionID) }
func ExecutionFinished(sessionID codec.UUID) Event {
	return execution(NameExecutionFinished, sessionID)
}
func ExecutionTimeout(sessionID codec.UUID) Event { return execution(NameExecutionTimeout, sessionID) }

func execution(name string, sessionID codec.UUID) Event {
	sid := sessionID.String()
	return Event{Name: name, Delivery: Anycast, Args: []any{sid}, Fields: []Field{{"session_id", sid}}}
}

// SessionSuccess and SessionFailure are a batch session's result
// (SessionSuccessEvent, SessionFailureEvent): anycast and broadcast,
// (session_id, reason, exit_code); reason is task-finished, task-failed
// or task-timeout (exit code -2).
func SessionSuccess(sessionID codec.UUID, reason KernelReason, exitCode int) Event {
	return sessionResult(NameSessionSuccess, sessionID, reason, exitCode)
}

func SessionFailure(sessionID codec.UUID, reason KernelReason, exitCode int) Event {
	return sessionResult(NameSessionFailure, sessionID, reason, exitCode)
}

func sessionResult(name string, sessionID codec.UUID, reason KernelReason, exitCode int) Event {
	if !reason.Valid() {
		reason = ReasonUnknown
	}
	sid := sessionID.String()
	return Event{
		Name:     name,
		Delivery: Anycast | Broadcast,
		Args:     []any{sid, reason.enum(), exitCode},
		Fields:   []Field{{"session_id", sid}, {"reason", string(reason)}, {"exit_code", exitCode}},
	}
}
