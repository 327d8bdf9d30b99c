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

// unassigned counts a service's tasks meant to run that no node has been
// given, and of those the ones created before the service's last update
// (of an older spec version: Swarm will not place them). Pure.
func unassigned(tasks []swarm.Task, updated time.Time) (ids []string, stale int) {
	for _, t := range tasks {
		if t.DesiredState != swarm.TaskStateRunning || t.NodeID != "" {
			continue
		}
		ids = append(ids, t.ID)
		if t.CreatedAt.Before(updated) {
			stale++
		}
	}
	return ids, stale
}

// renewStranded, when the service has unassigned tasks of an older spec
// version, scales it down by all its unassigned tasks and back to replicas:
// Swarm removes unassigned tasks first (they sort after every task on a
// node), so no placed task is touched, and the new ones are of the current
// version, which the scheduler places as soon as a node fits.
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
	ids, stale := unassigned(tasks, res.Service.UpdatedAt)
	if stale == 0 {
		return nil
	}
	o.log.Info("renewing pending tasks Swarm no longer retries", "service", name, "unassigned", len(ids), "older version", stale)
	set := func(n int) error {
		return o.updateService(ctx, name, func(spec *swarm.ServiceSpec) error {
			if spec.Mode.Replicated == nil {
				return fmt.Errorf("scale %s: %w", name, ErrGlobal)
			}
			v := uint64(max(n, 0))
			spec.Mode.Replicated.Replicas = &v
			return nil
		})
	}
	if err := set(replicas - len(ids)); err != nil {
		return err
	}
	// Both updates read together would remove nothing: wait until Swarm
	// has let the unassigned tasks go.
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	deadline := time.Now().Add(strandedWait)
	for {
		tasks, err := list()
		if err != nil {
			return err
		}
		left := 0
		for _, t := range tasks {
			if gone[t.ID] && t.DesiredState == swarm.TaskStateRunning {
				left++
			}
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			break // the scale back below must still happen
		}
	}
	return set(replicas)
}
