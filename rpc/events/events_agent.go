package events

// Reasons of agent_started and agent_terminated that upstream's agent
// sends (agent.py).
const (
	AgentReasonSelfStarted = "self-started"
	AgentReasonShutdown    = "shutdown"
)

// Names of the agent events (common/events/event_types/agent/anycast.py).
const (
	NameAgentStarted    = "agent_started"
	NameAgentTerminated = "agent_terminated"
	NameAgentError      = "agent_error"
	NameAgentHeartbeat  = "agent_heartbeat"
	// NameDoAgentResourceCheck asks the manager to recheck the agent's
	// resources after an allocation failed.
	NameDoAgentResourceCheck = "do_agent_resource_check"
)

// AgentStarted is agent_started (AgentStartedEvent): anycast, (reason,).
// The agent sends it with AgentReasonSelfStarted at the end of start-up.
func AgentStarted(reason string) Event {
	return agentLifecycle(NameAgentStarted, reason)
}

// AgentTerminated is agent_terminated (AgentTerminatedEvent): anycast,
// (reason,). The agent sends it with AgentReasonShutdown on a graceful
// stop.
func AgentTerminated(reason string) Event {
	return agentLifecycle(NameAgentTerminated, reason)
}

func agentLifecycle(name, reason string) Event {
	return Event{
		Name:     name,
		Delivery: Anycast,
		Args:     []any{reason},
		Fields:   []Field{{"reason", reason}},
	}
}

// AgentError is agent_error (AgentErrorEvent) as the agent's
// produce_error_event sends it: anycast, (message, traceback, user,
// context_env, severity) with no user, an empty context and severity
// "ERROR". An empty traceback is None.
func AgentError(message, traceback string) Event {
	return Event{
		Name:     NameAgentError,
		Delivery: Anycast,
		Args:     []any{message, optional(traceback), nil, map[string]any{}, "ERROR"},
		Fields: []Field{
			{"message", message},
			{"traceback", optional(traceback)},
			{"user", nil},
			{"context_env", map[string]any{}},
			{"severity", "ERROR"},
		},
	}
}

// DoAgentResourceCheck is do_agent_resource_check
// (DoAgentResourceCheckEvent), sent when a kernel's allocation fails for
// lack of resources: anycast, (agent_id,).
func DoAgentResourceCheck(agentID string) Event {
	return Event{
		Name:     NameDoAgentResourceCheck,
		Delivery: Anycast,
		Args:     []any{agentID},
		Fields:   []Field{{"agent_id", agentID}},
	}
}
