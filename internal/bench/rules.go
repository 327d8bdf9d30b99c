package bench

import (
	"context"
	"time"
)

// alert is a Prometheus alerting rule with an Alertmanager route behind it:
// the condition must hold for `forDur` before the alert fires, and a firing
// alert is sent again every `repeat` while it lasts. Each send is one action.
type alert struct {
	forDur, repeat time.Duration
	since          time.Time // condition true since (zero: false)
	lastSent       time.Time // zero: not firing
}

// eval updates the alert with the condition at now and reports whether a
// notification goes out.
func (a *alert) eval(now time.Time, cond bool) bool {
	if !cond {
		a.since, a.lastSent = time.Time{}, time.Time{}
		return false
	}
	if a.since.IsZero() {
		a.since = now
	}
	if now.Sub(a.since) < a.forDur {
		return false
	}
	if a.lastSent.IsZero() || now.Sub(a.lastSent) >= a.repeat {
		a.lastSent = now
		return true
	}
	return false
}

func micadoPolicy() Policy {
	return Policy{
		Name: "micado",
		Doc: "MiCADO v2 rules: container CPU (30 s rate) above 90 % of a core for 30 s: +1, below 10 % for 30 s: -1 " +
			"(its alert generator's defaults); node CPU above 60 % for 1 min: +1 machine, below 20 % for 2 min: -1; alerts repeat every 40 s",
		New: func(env *Env) (Controller, error) {
			return &micado{f: newFleet(env, "micado"), loop: loop{period: MicadoEval},
				up:     alert{forDur: MicadoFor, repeat: MicadoRepeat},
				down:   alert{forDur: MicadoFor, repeat: MicadoRepeat},
				nodeUp: alert{forDur: MicadoNodeUpFor, repeat: MicadoRepeat}, nodeDown: alert{forDur: MicadoNodeDownFor, repeat: MicadoRepeat}}, nil
		},
	}
}

// micado evaluates MiCADO v2's four alert rules. Container CPU is in percent
// of one core, as the generated rule computes it (rate of cAdvisor's CPU
// seconds x 100), whatever the container's limit.
type micado struct {
	f *fleet
	loop
	up, down, nodeUp, nodeDown alert
}

func (m *micado) Step(ctx context.Context, now time.Time) error {
	if !m.due(now) {
		return nil
	}
	v, err := m.f.look(ctx)
	if err != nil {
		return err
	}
	if ok, err := m.f.deployed(ctx, v); !ok || err != nil {
		return err
	}
	pct, ok, err := m.f.cpuOfLimit(ctx, MicadoMetricWindow)
	if err != nil {
		return err
	}
	corePct := pct * limitCores(m.f.env.App)
	// Without data (no replica running) no rule's expression has a value.
	if m.up.eval(now, ok && corePct > MicadoUpperCore) {
		if _, err := m.f.scale(ctx, v, v.Desired+1); err != nil {
			return err
		}
	}
	if m.down.eval(now, ok && corePct < MicadoLowerCore) {
		if _, err := m.f.scale(ctx, v, v.Desired-1); err != nil {
			return err
		}
	}
	nodePct, _, err := m.f.cpuOfLimit(ctx, MicadoNodeWindow)
	if err != nil {
		return err
	}
	node := m.f.meanNodeCPU(v, nodePct)
	pool := m.f.env.Pool
	if m.nodeUp.eval(now, len(v.Nodes) > 0 && node > MicadoNodeUpper) {
		if _, err := m.f.order(ctx, v, 1); err != nil {
			return err
		}
	}
	if m.nodeDown.eval(now, len(v.Nodes) > 0 && node < MicadoNodeLower) && len(v.Nodes) > pool.Min {
		if n, ok := emptiest(v.Nodes); ok {
			return m.f.remove(ctx, n.Node)
		}
	}
	return nil
}

func elascalePolicy() Policy {
	return Policy{
		Name: "elascale",
		Doc:  "Elascale_secure rules, every 10 s on 30 s means: service CPU >= 0.6: +1, < 0.4: -1; machine CPU >= 0.65: +1, < 0.2: -1 (one VM at a time)",
		New: func(env *Env) (Controller, error) {
			return &elascale{f: newFleet(env, "elascale"), loop: loop{period: ElascaleLoop}}, nil
		},
	}
}

// elascale applies Elascale's micro (service) and macro (machine) rules on
// its 10 s loop. A VM is made with `docker-machine create`, which blocks, so
// the macro rule does nothing while a machine it ordered boots.
type elascale struct {
	f *fleet
	loop
}

func (e *elascale) Step(ctx context.Context, now time.Time) error {
	if !e.due(now) {
		return nil
	}
	v, err := e.f.look(ctx)
	if err != nil {
		return err
	}
	if ok, err := e.f.deployed(ctx, v); !ok || err != nil {
		return err
	}
	pct, ok, err := e.f.cpuOfLimit(ctx, ElascaleMetricWin)
	if err != nil {
		return err
	}
	if ok {
		switch u := pct / 100; {
		case u >= ElascaleUpper:
			_, err = e.f.scale(ctx, v, v.Desired+1)
		case u < ElascaleLower:
			_, err = e.f.scale(ctx, v, v.Desired-1)
		}
		if err != nil {
			return err
		}
	}
	if v.Booting > 0 || len(v.Nodes) == 0 {
		return nil
	}
	switch u := e.f.meanNodeCPU(v, pct) / 100; {
	case u >= ElascaleNodeUpper:
		_, err = e.f.order(ctx, v, 1)
	case u < ElascaleNodeLower && len(v.Nodes) > e.f.env.Pool.Min:
		if n, ok := emptiest(v.Nodes); ok {
			err = e.f.remove(ctx, n.Node)
		}
	}
	return err
}
