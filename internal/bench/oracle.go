package bench

import (
	"context"
	"time"

	"github.com/hoist/hoist/internal/config"
)

func staticPeakPolicy() Policy {
	return Policy{
		Name: "static-peak",
		Doc:  "the trace's peak demand in replicas, and the machines they pack onto, all the time (within the descriptor's max)",
		Prepare: func(cfg *config.Config, d *Demand) {
			app, pool := &cfg.Apps[0], &cfg.Pools[0]
			peak := min(d.Peak(), app.Replicas.Max)
			// The machines exist, ready, from the first second.
			pool.Min = min(max(pool.Min, d.MachinesFor(peak)), pool.Max)
		},
		New: func(env *Env) (Controller, error) {
			return &static{f: newFleet(env, "static")}, nil
		},
	}
}

type static struct {
	f    *fleet
	done bool
}

func (s *static) Step(ctx context.Context, _ time.Time) error {
	if s.done {
		return nil
	}
	s.done = true
	peak := min(max(s.f.env.Demand.Peak(), s.f.env.App.Replicas.Min), s.f.env.App.Replicas.Max)
	return s.f.env.Cluster.Deploy(ctx, *s.f.env.App, peak)
}

func oraclePolicy() Policy {
	var poolMin int
	return Policy{
		Name: "oracle",
		Doc: "knows the future: at every second the fewest replicas meeting the SLO a container start ahead, " +
			"and the fewest machines holding them a boot time ahead; the cost limit",
		Prepare: func(cfg *config.Config, d *Demand) {
			pool := &cfg.Pools[0]
			poolMin = pool.Min
			o := oracle{boot: sec(pool.BootTime.D()), start: sec(cfg.Sim.ContainerStart.D()), d: d}
			pool.Min = min(max(pool.Min, o.machines(0)), pool.Max)
		},
		New: func(env *Env) (Controller, error) {
			return &oracle{f: newFleet(env, "oracle"), d: env.Demand, poolMin: poolMin,
				boot: sec(env.Pool.BootTime.D()), start: sec(env.Config.Sim.ContainerStart.D())}, nil
		},
	}
}

func sec(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// oracle runs every simulated second with the whole demand in view.
//
// A replica asked for at second k is created at k+1 and runs from
// k+1+containerStart, so the replica target at k is the largest demand over
// [k+1, k+2+containerStart]. A machine ordered at k is a node at k+boot and
// its replicas run containerStart later, so the machine target is the
// largest machine demand over [k+1, k+2+boot+containerStart]: machines are
// ordered one boot time ahead and kept while they will be needed again
// before a new one could boot.
//
// Removing a machine kills its replicas and restarts them elsewhere, which
// takes containerStart; so before draining node X the oracle adds as many
// replicas as X holds, and drains X only once the replicas running on the
// other nodes cover the demand on their own.
type oracle struct {
	f           *fleet
	d           *Demand
	boot, start int
	poolMin     int
}

func (o *oracle) replicas(k int) int { return o.d.MaxReplicas(k+1, k+2+o.start) }

func (o *oracle) machines(k int) int {
	return o.d.MachinesFor(o.d.MaxReplicas(k+1, k+2+o.boot+o.start))
}

func (o *oracle) Step(ctx context.Context, now time.Time) error {
	k := int(now.Sub(o.f.env.Start) / time.Second)
	v, err := o.f.look(ctx)
	if err != nil {
		return err
	}
	if v.Service == nil {
		return o.f.env.Cluster.Deploy(ctx, *o.f.env.App, o.replicas(k))
	}
	pool := o.f.env.Pool
	want := min(max(o.machines(k), o.poolMin), pool.Max)
	have := len(v.Nodes) + v.Booting
	if have < want {
		if _, err := o.f.order(ctx, v, want-have); err != nil {
			return err
		}
	}
	target := o.replicas(k)
	if have > want && v.Booting == 0 {
		if x, ok := emptiest(v.Nodes); ok {
			if v.Running-x.Running >= target {
				if err := o.f.remove(ctx, x.Node); err != nil {
					return err
				}
			} else {
				// Over-provision for the move: X's replicas again, on the others.
				target += x.Tasks
			}
		}
	}
	_, err = o.f.scale(ctx, v, target)
	return err
}
