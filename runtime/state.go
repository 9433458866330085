package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/scratch"
)

// Status is a kernel's lifecycle state.
type Status string

// Kernel states.
const (
	StatusCreating Status = "creating"
	StatusRunning  Status = "running"
	StatusExited   Status = "exited"
)

// Exit describes how a kernel's main process ended.
type Exit struct {
	Code      int       `json:"code"`
	Signal    string    `json:"signal,omitempty"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
	At        time.Time `json:"at"`
	// Unknown is set when the exit status could not be learned (the
	// kernel's init itself was killed while the agent was down).
	Unknown bool   `json:"unknown,omitempty"`
	Error   string `json:"error,omitempty"`
}

// State is what the agent keeps on disk for each kernel: enough to
// reattach after a restart and to release everything on destroy.
type State struct {
	ID         string            `json:"id"`
	Image      string            `json:"image"` // config digest
	ImageRef   string            `json:"image_ref"`
	Status     Status            `json:"status"`
	Args       []string          `json:"args"`
	Env        []string          `json:"env,omitempty"`
	Allocation alloc.Allocation  `json:"allocation"`
	Scratch    scratch.Options   `json:"scratch"`
	InitPID    int               `json:"init_pid,omitempty"`
	Created    time.Time         `json:"created"`
	Started    time.Time         `json:"started,omitzero"`
	Exit       *Exit             `json:"exit,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Net        NetState          `json:"net"`
}

// stateStore keeps one JSON file per kernel, written atomically.
type stateStore struct{ dir string }

func (s stateStore) path(id string) string { return filepath.Join(s.dir, id+".json") }

func (s stateStore) save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of kernel %s: %w", st.ID, err)
	}
	p := s.path(st.ID)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write state of kernel %s: %w", st.ID, err)
	}
	// Not synced: the state dir is volatile (/run); a rename is atomic
	// against a crash of the agent, and a crash of the host ends every
	// kernel anyway.
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write state of kernel %s: %w", st.ID, err)
	}
	return nil
}

func (s stateStore) remove(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state of kernel %s: %w", id, err)
	}
	return nil
}

func (s stateStore) exists(id string) bool {
	_, err := os.Stat(s.path(id))
	return err == nil
}

// loadAll reads every state file; unreadable ones are returned as errors
// by name so the caller can report them without touching the kernel.
func (s stateStore) loadAll() ([]*State, map[string]error, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list kernel states: %w", err)
	}
	var out []*State
	bad := map[string]error{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			bad[id] = err
			continue
		}
		var st State
		if err := json.Unmarshal(b, &st); err != nil || st.ID != id {
			bad[id] = fmt.Errorf("corrupt state file: %v", err)
			continue
		}
		out = append(out, &st)
	}
	return out, bad, nil
}
