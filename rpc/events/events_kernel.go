package events

import (
	"maps"

	"github.com/baiagent/agent/rpc/codec"
)

// Names of the kernel events (common/events/event_types/kernel).
const (
	NameKernelPreparing  = "kernel_preparing"
	NameKernelPulling    = "kernel_pulling"
	NameKernelCreating   = "kernel_creating"
	NameKernelStarted    = "kernel_started"
	NameKernelTerminated = "kernel_terminated"
	NameDoSyncKernelLogs = "do_sync_kernel_logs"
)

// KernelPreparing is kernel_preparing, sent when a kernel's creation
// starts: anycast and broadcast, (kernel_id, session_id, "", {}).
func KernelPreparing(kernelID, sessionID codec.UUID) Event {
	return kernelCreation(NameKernelPreparing, kernelID, sessionID, "", nil)
}

// KernelPulling is kernel_pulling, sent before the kernel's image is
// pulled: anycast and broadcast, (kernel_id, session_id, canonical, {}),
// the reason being the image's canonical name.
func KernelPulling(kernelID, sessionID codec.UUID, canonical string) Event {
	return kernelCreation(NameKernelPulling, kernelID, sessionID, canonical, nil)
}

// KernelCreating is kernel_creating, sent before the container is
// created: anycast and broadcast, (kernel_id, session_id, "", {}).
func KernelCreating(kernelID, sessionID codec.UUID) Event {
	return kernelCreation(NameKernelCreating, kernelID, sessionID, "", nil)
}

// KernelStarted is kernel_started, sent once the kernel runs: anycast and
// broadcast, (kernel_id, session_id, "", creation_info). creation_info is
// info (the create_kernels result of the kernel) with "id" and
// "container_id" set as upstream's agent sets them; info is not changed.
// Its values must suit both codec.Encode and encoding/json: strings,
// numbers, bools, nil, []any and map[string]any.
func KernelStarted(kernelID, sessionID codec.UUID, containerID string, info map[string]any) Event {
	ci := make(map[string]any, len(info)+2)
	maps.Copy(ci, info)
	ci["id"] = kernelID.String()
	ci["container_id"] = containerID
	return kernelCreation(NameKernelStarted, kernelID, sessionID, "", ci)
}

// kernelCreation builds a KernelCreationEvent. The JSON form (main) has
// creation_info on kernel_started only.
func kernelCreation(name string, kernelID, sessionID codec.UUID, reason string, info map[string]any) Event {
	kid, sid := kernelID.String(), sessionID.String()
	fields := []Field{{"kernel_id", kid}, {"session_id", sid}, {"reason", reason}}
	if info == nil {
		info = map[string]any{}
	} else {
		fields = append(fields, Field{"creation_info", info})
	}
	return Event{
		Name:     name,
		Delivery: Anycast | Broadcast,
		Args:     []any{kid, sid, reason, info},
		Fields:   fields,
	}
}

// KernelTerminated is kernel_terminated (KernelTerminatedAnycastEvent and
// KernelTerminatedBroadcastEvent): anycast and broadcast, (kernel_id,
// session_id, reason, exit_code), the reason as an enum member. A reason
// outside the enum is sent as ReasonUnknown, since the manager could not
// load it. Upstream's exit code for "not known" is -1.
func KernelTerminated(kernelID, sessionID codec.UUID, reason KernelReason, exitCode int) Event {
	if !reason.Valid() {
		reason = ReasonUnknown
	}
	kid, sid := kernelID.String(), sessionID.String()
	return Event{
		Name:     NameKernelTerminated,
		Delivery: Anycast | Broadcast,
		Args:     []any{kid, sid, reason.enum(), exitCode},
		Fields: []Field{
			{"kernel_id", kid},
			{"session_id", sid},
			{"reason", string(reason)},
			{"exit_code", exitCode},
		},
	}
}

// DoSyncKernelLogs is do_sync_kernel_logs, sent after a kernel's logs were
// pushed to containerlog.{container_id}: anycast, (kernel_id,
// container_id).
func DoSyncKernelLogs(kernelID codec.UUID, containerID string) Event {
	kid := kernelID.String()
	return Event{
		Name:     NameDoSyncKernelLogs,
		Delivery: Anycast,
		Args:     []any{kid, containerID},
		Fields:   []Field{{"kernel_id", kid}, {"container_id", containerID}},
	}
}
