package events

import (
	"time"

	"github.com/baiagent/agent/rpc/codec"
)

// Names of the image events (common/events/event_types/image/anycast.py).
const (
	NameImagePullStarted  = "image_pull_started"
	NameImagePullFinished = "image_pull_finished"
	NameImagePullFailed   = "image_pull_failed"
)

// MsgImageAlreadyExists is the msg of image_pull_finished when no pull was
// needed.
const MsgImageAlreadyExists = "Image already exists"

// imageRefJSON is ImageRef as pydantic renders the dataclass.
type imageRefJSON struct {
	Name         string  `json:"name"`
	Project      *string `json:"project"`
	Tag          string  `json:"tag"`
	Registry     string  `json:"registry"`
	Architecture string  `json:"architecture"`
	IsLocal      bool    `json:"is_local"`
}

// imageRefValues returns ref for the tuple (ext 7) and for JSON; both nil
// when ref is nil.
func imageRefValues(ref *codec.ImageRef) (arg, field any) {
	if ref == nil {
		return nil, nil
	}
	return *ref, imageRefJSON{ref.Name, ref.Project, ref.Tag, ref.Registry, ref.Architecture, ref.IsLocal}
}

// timestamp is a POSIX time as Python's datetime.timestamp() gives it.
func timestamp(t time.Time) float64 {
	return float64(t.UnixMicro()) / 1e6
}

// ImagePullStarted is image_pull_started, sent by check_and_pull before a
// pull: anycast, (image, agent_id, timestamp[, image_ref]), image_ref
// left out when ref is nil.
func ImagePullStarted(agentID, image string, ref *codec.ImageRef, at time.Time) Event {
	ts := timestamp(at)
	arg, field := imageRefValues(ref)
	args := []any{image, agentID, ts}
	if ref != nil {
		args = append(args, arg)
	}
	return Event{
		Name:     NameImagePullStarted,
		Delivery: Anycast,
		Args:     args,
		Fields: []Field{
			{"image", image}, {"agent_id", agentID}, {"timestamp", ts}, {"image_ref", field},
		},
	}
}

// ImagePullFinished is image_pull_finished, sent after a pull, or with msg
// MsgImageAlreadyExists when none was needed: anycast, (image, agent_id,
// timestamp, msg, image_ref); an empty msg and a nil ref are None.
func ImagePullFinished(agentID, image string, ref *codec.ImageRef, at time.Time, msg string) Event {
	ts := timestamp(at)
	arg, field := imageRefValues(ref)
	return Event{
		Name:     NameImagePullFinished,
		Delivery: Anycast,
		Args:     []any{image, agentID, ts, optional(msg), arg},
		Fields: []Field{
			{"image", image}, {"agent_id", agentID}, {"timestamp", ts},
			{"msg", optional(msg)}, {"image_ref", field},
		},
	}
}

// ImagePullFailed is image_pull_failed, sent when a pull fails or times
// out: anycast, (image, agent_id, msg[, image_ref]), image_ref left out
// when ref is nil. Upstream's msg is "timeout (s:N)" or the error's repr.
func ImagePullFailed(agentID, image string, ref *codec.ImageRef, msg string) Event {
	arg, field := imageRefValues(ref)
	args := []any{image, agentID, msg}
	if ref != nil {
		args = append(args, arg)
	}
	return Event{
		Name:     NameImagePullFailed,
		Delivery: Anycast,
		Args:     args,
		Fields: []Field{
			{"image", image}, {"agent_id", agentID}, {"msg", msg}, {"image_ref", field},
		},
	}
}
