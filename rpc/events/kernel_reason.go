package events

import "github.com/baiagent/agent/rpc/codec"

// KernelReason is upstream's KernelLifecycleEventReason, the reason of
// kernel_terminated. Up to 26.8 it travels as a pickled enum member, which
// the manager can only load for a value of the enum.
type KernelReason string

// The members of KernelLifecycleEventReason
// (common/events/event_types/kernel/types.py).
const (
	ReasonAgentTermination           KernelReason = "agent-termination"
	ReasonAlreadyTerminated          KernelReason = "already-terminated"
	ReasonAnomalyDetected            KernelReason = "anomaly-detected"
	ReasonExecTimeout                KernelReason = "exec-timeout"
	ReasonFailedToCreate             KernelReason = "failed-to-create"
	ReasonFailedToStart              KernelReason = "failed-to-start"
	ReasonForceTerminated            KernelReason = "force-terminated"
	ReasonBootstrapTimeout           KernelReason = "bootstrap-timeout"
	ReasonHangTimeout                KernelReason = "hang-timeout"
	ReasonIdleTimeout                KernelReason = "idle-timeout"
	ReasonIdleSessionLifetime        KernelReason = "idle-session-lifetime"
	ReasonIdleUtilization            KernelReason = "idle-utilization"
	ReasonKilledByEvent              KernelReason = "killed-by-event"
	ReasonServiceScaledDown          KernelReason = "service-scaled-down"
	ReasonNewContainerStarted        KernelReason = "new-container-started"
	ReasonPendingTimeout             KernelReason = "pending-timeout"
	ReasonRestarting                 KernelReason = "restarting"
	ReasonRestartTimeout             KernelReason = "restart-timeout"
	ReasonResumingAgentOperation     KernelReason = "resuming-agent-operation"
	ReasonSelfTerminated             KernelReason = "self-terminated"
	ReasonTaskFailed                 KernelReason = "task-failed"
	ReasonTaskTimeout                KernelReason = "task-timeout"
	ReasonTaskCancelled              KernelReason = "task-cancelled"
	ReasonTaskFinished               KernelReason = "task-finished"
	ReasonTerminatedUnknownContainer KernelReason = "terminated-unknown-container"
	ReasonUnknown                    KernelReason = "unknown"
	ReasonUserRequested              KernelReason = "user-requested"
	ReasonUserPurged                 KernelReason = "user-purged"
	ReasonNotFoundInManager          KernelReason = "not-found-in-manager"
	ReasonContainerNotFound          KernelReason = "container-not-found"
)

// The enum's Python class, as pickles name it.
const (
	reasonModule = "ai.backend.common.events.event_types.kernel.types"
	reasonClass  = "KernelLifecycleEventReason"
)

// Valid reports whether r is a member of the enum.
func (r KernelReason) Valid() bool {
	switch r {
	case ReasonAgentTermination, ReasonAlreadyTerminated, ReasonAnomalyDetected,
		ReasonExecTimeout, ReasonFailedToCreate, ReasonFailedToStart,
		ReasonForceTerminated, ReasonBootstrapTimeout, ReasonHangTimeout,
		ReasonIdleTimeout, ReasonIdleSessionLifetime, ReasonIdleUtilization,
		ReasonKilledByEvent, ReasonServiceScaledDown, ReasonNewContainerStarted,
		ReasonPendingTimeout, ReasonRestarting, ReasonRestartTimeout,
		ReasonResumingAgentOperation, ReasonSelfTerminated, ReasonTaskFailed,
		ReasonTaskTimeout, ReasonTaskCancelled, ReasonTaskFinished,
		ReasonTerminatedUnknownContainer, ReasonUnknown, ReasonUserRequested,
		ReasonUserPurged, ReasonNotFoundInManager, ReasonContainerNotFound:
		return true
	}
	return false
}

// enum returns r as the codec's enum member (ext 6).
func (r KernelReason) enum() codec.Enum {
	return codec.Enum{Module: reasonModule, Class: reasonClass, Value: string(r)}
}

// KernelReasonOf returns the reason a value from the manager stands for:
// a codec.Enum member or its string value. ok is false for anything
// outside the enum.
func KernelReasonOf(v any) (r KernelReason, ok bool) {
	switch x := v.(type) {
	case string:
		r = KernelReason(x)
	case codec.Enum:
		r = KernelReason(x.String())
	case KernelReason:
		r = x
	default:
		return "", false
	}
	return r, r.Valid()
}
