package swarm

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Swarm's scheduler stops retrying a pending task once its service has a
// newer spec version than the task (swarmkit's noSuitableNode: "task belongs
// to old revision of service"): it leaves the task to the orchestrator, which
// replaces tasks only when the task template changed, not when the replica
// count did. Every update bumps the spec version, so a task waiting for room
// (or for a node with the pool's label) when hoist scales its service again
// waits forever, even once a node that fits it is ready: "no suitable node"
// stays its last word. renewStranded replaces such tasks after a scale.

// strandedWait bounds the wait for Swarm to let the unassigned tasks go
// between the two updates.
const strandedWait = 15 * time.Second

// unassigned lists a service's tasks meant to run that no node has been
// given, counts those created before the service's last update (of an older
// spec version: Swarm will not place them), and counts the tasks placed on a
// node. Pure.
func unassigned(tasks []swarm.Task, updated time.Time) (ids []string, stale, placed int) {
	for _, t := range tasks {
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if t.NodeID != "" {
			placed++
			continue
		}
		ids = append(ids, t.ID)
		if t.CreatedAt.Before(updated) {
			stale++
		}
	}
	return ids, stale, placed
}

// renewStranded, when the service has unassigned tasks of an older spec
// version, scales it down to its placed tasks and, once Swarm has let every
// unassigned task go, back to replicas. Swarm removes unassigned tasks first
// (they sort after every task on a node), so no running task is touched; the
// new tasks are of the last version, which the scheduler keeps trying until
// a node fits. All the unassigned go, not only the stale ones: which of them
// Swarm removes is its choice, and any left at the last update would be of
// an older version in turn.
func (o *Orchestrator) renewStranded(ctx context.Context, name string, replicas int) error {
	res, err := o.api.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", name, err)
	}
	list := func() ([]swarm.Task, error) {
		tl, err := o.api.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", res.Service.ID)})
		if err != nil {
			return nil, fmt.Errorf("list tasks of %s: %w", name, err)
		}
		return tl.Items, nil
	}
	tasks, err := list()
	if err != nil {
		return err
	}
	ids, stale, placed := unassigned(tasks, res.Service.UpdatedAt)
	if stale == 0 {
		return nil
	}
	o.log.Info("renewing pending tasks Swarm no longer retries", "service", name, "unassigned", len(ids), "older version", stale)
	set := func(n int) error { return o.updateService(ctx, name, replicasTo(name, n)) }
	if err := set(min(placed, replicas)); err != nil {
		return err
	}
	// Both updates read together would remove nothing: wait until Swarm
	// has let every unassigned task go.
	deadline := time.Now().Add(strandedWait)
	for {
		tasks, err := list()
		if err != nil {
			return err
		}
		left, _, _ := unassigned(tasks, time.Time{})
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			o.log.Warn("pending tasks not gone, scaling back anyway", "service", name, "left", len(left))
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			break // the scale back below must still happen
		}
	}
	return set(replicas)
}

// replicasTo is the change of a service's spec that scales it to n (Scale's
// and renewStranded's).
func replicasTo(name string, n int) func(*swarm.ServiceSpec) error {
	return func(spec *swarm.ServiceSpec) error {
		if spec.Mode.Replicated == nil {
			return fmt.Errorf("scale %s: %w", name, ErrGlobal)
		}
		v := uint64(max(n, 0))
		spec.Mode.Replicated.Replicas = &v
		return nil
	}
}
