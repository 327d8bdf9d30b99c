package swarm

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

func TestUnassigned(t *testing.T) {
	upd := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	task := func(id, node string, desired swarm.TaskState, created time.Time) swarm.Task {
		tk := swarm.Task{ID: id, NodeID: node, DesiredState: desired}
		tk.CreatedAt = created
		return tk
	}
	before, after := upd.Add(-time.Minute), upd.Add(time.Second)
	for _, c := range []struct {
		name   string
		tasks  []swarm.Task
		ids    int
		stale  int
		placed int
	}{
		{"none", nil, 0, 0, 0},
		{"placed tasks are never counted", []swarm.Task{task("a", "n1", swarm.TaskStateRunning, before)}, 0, 0, 1},
		{"pending since before the update: stale", []swarm.Task{task("a", "", swarm.TaskStateRunning, before), task("b", "n1", swarm.TaskStateRunning, before)}, 1, 1, 1},
		{"pending since the update: not stale", []swarm.Task{task("a", "", swarm.TaskStateRunning, after)}, 1, 0, 0},
		{"both: all unassigned go, one is stale", []swarm.Task{task("a", "", swarm.TaskStateRunning, before), task("b", "", swarm.TaskStateRunning, after)}, 2, 1, 0},
		{"already being removed", []swarm.Task{task("a", "", swarm.TaskStateRemove, before), task("b", "n1", swarm.TaskStateShutdown, before)}, 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids, stale, placed := unassigned(c.tasks, upd)
			if len(ids) != c.ids || stale != c.stale || placed != c.placed {
				t.Errorf("unassigned = %v, %d stale, %d placed; want %d, %d, %d", ids, stale, placed, c.ids, c.stale, c.placed)
			}
		})
	}
}
