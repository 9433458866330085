package events

import (
	"math"

	"github.com/baiagent/agent/rpc/codec"
)

// Names of the background task events
// (common/events/event_types/bgtask/broadcast.py).
const (
	NameBgtaskUpdated = "bgtask_updated"
	NameBgtaskDone    = "bgtask_done"
	NameBgtaskFailed  = "bgtask_failed"
)

// BgtaskCacheID is the key a background task's events are cached under
// (EventCacheDomain.BGTASK.cache_id): "bgtask.<task_id>".
func BgtaskCacheID(taskID codec.UUID) string {
	return "bgtask." + taskID.String()
}

// progress returns a progress count as upstream's reporter has it: an int
// when whole (the reporter counts in ints), a float otherwise.
func progress(v float64) any {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return int64(v)
	}
	return v
}

// BgtaskUpdated is bgtask_updated, a background task's progress: a cached
// broadcast, (task_id, current_progress, total_progress, message); an
// empty message is None. Upstream sends message "Task started" with
// 0 of 0 when a task starts.
func BgtaskUpdated(taskID codec.UUID, current, total float64, message string) Event {
	id := taskID.String()
	cur, tot := progress(current), progress(total)
	return Event{
		Name:     NameBgtaskUpdated,
		Delivery: Broadcast,
		CacheID:  BgtaskCacheID(taskID),
		Args:     []any{id, cur, tot, optional(message)},
		Fields: []Field{
			{"task_id", id}, {"current_progress", cur}, {"total_progress", tot},
			{"message", optional(message)},
		},
	}
}

// BgtaskDone is bgtask_done, a background task that succeeded: a cached
// broadcast, (task_id, message); an empty message is None.
func BgtaskDone(taskID codec.UUID, message string) Event {
	return bgtaskResult(NameBgtaskDone, taskID, message)
}

// BgtaskFailed is bgtask_failed, a background task that failed: a cached
// broadcast, (task_id, message), upstream's message being the error's
// repr.
func BgtaskFailed(taskID codec.UUID, message string) Event {
	return bgtaskResult(NameBgtaskFailed, taskID, message)
}

func bgtaskResult(name string, taskID codec.UUID, message string) Event {
	id := taskID.String()
	return Event{
		Name:     name,
		Delivery: Broadcast,
		CacheID:  BgtaskCacheID(taskID),
		Args:     []any{id, optional(message)},
		Fields:   []Field{{"task_id", id}, {"message", optional(message)}},
	}
}
