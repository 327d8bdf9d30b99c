package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

// poolView is a pool with its machines.
type poolView struct {
	Name     string                `json:"name"`
	Provider string                `json:"provider"`
	Min      int                   `json:"min"`
	Max      int                   `json:"max"`
	Machine  shapeView             `json:"machine"`
	Active   int                   `json:"active"` // ordered + booting + ready
	Phases   map[cluster.Phase]int `json:"phases"`
	Decision *engine.PoolDecision  `json:"decision,omitempty"`
	Machines []machineView         `json:"machines,omitempty"`
}

type shapeView struct {
	CPUs   float64 `json:"cpus"`
	Memory int64   `json:"memory"`
}

// machineView is a machine record (its lifecycle phase and history) with
// its node as last observed.
type machineView struct {
	cluster.MachineRecord
	Node *nodeView `json:"node,omitempty"`
}

type nodeView struct {
	ID           string               `json:"id"`
	Ready        bool                 `json:"ready"`
	Availability cluster.Availability `json:"availability"`
	Capacity     cluster.Resources    `json:"capacity"`
	Reserved     cluster.Resources    `json:"reserved"`
	Tasks        int                  `json:"tasks"`
}

func (s *Server) pool(name string) (*config.Pool, *Error) {
	p, ok := s.opt.Engine.Config().Pool(name)
	if !ok {
		return nil, notFound("name", "no pool named %q", name)
	}
	return p, nil
}

func (s *Server) poolView(p *config.Pool, withMachines, destroyed bool) poolView {
	v := poolView{Name: p.Name, Provider: p.Provider, Min: p.Min, Max: p.Max,
		Machine: shapeView{p.Machine.CPUs, int64(p.Machine.Memory)}, Phases: map[cluster.Phase]int{}}
	plan, snap := s.opt.Engine.Last()
	if plan != nil {
		for i := range plan.Pools {
			if plan.Pools[i].Pool == p.Name {
				d := plan.Pools[i]
				v.Decision = &d
			}
		}
	}
	nodes := map[string]*nodeView{}
	if withMachines && snap != nil {
		reserved := snap.State.Reserved()
		tasks := map[string]int{}
		for _, t := range snap.State.Tasks {
			tasks[t.NodeID]++
		}
		for _, n := range snap.State.Nodes {
			nodes[n.ID] = &nodeView{ID: n.ID, Ready: n.Ready, Availability: n.Availability,
				Capacity: n.Capacity, Reserved: reserved[n.ID], Tasks: tasks[n.ID]}
		}
	}
	for _, r := range s.opt.Engine.Machines() {
		if r.Pool != p.Name {
			continue
		}
		v.Phases[r.Phase]++
		if r.Phase.Counts() {
			v.Active++
		}
		if withMachines && (destroyed || r.Phase != cluster.PhaseDestroyed) {
			v.Machines = append(v.Machines, machineView{MachineRecord: r, Node: nodes[r.NodeID]})
		}
	}
	return v
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) error {
	cfg := s.opt.Engine.Config()
	out := make([]poolView, 0, len(cfg.Pools))
	for i := range cfg.Pools {
		out = append(out, s.poolView(&cfg.Pools[i], false, false))
	}
	writeJSON(w, http.StatusOK, PoolList{Pools: out})
	return nil
}

func (s *Server) showPool(w http.ResponseWriter, r *http.Request) error {
	p, e := s.pool(r.PathValue("name"))
	if e != nil {
		return e
	}
	destroyed, e := boolParam(r, "include_destroyed")
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, s.poolView(p, true, destroyed))
	return nil
}

// maxStep bounds one scale request: a typo must not order a thousand machines
// (the pool's max bounds it anyway).
const maxStep = 1000

type countBody struct {
	Count *int `json:"count"`
}

func (s *Server) scaleUp(w http.ResponseWriter, r *http.Request) error   { return s.scaleBy(w, r, +1) }
func (s *Server) scaleDown(w http.ResponseWriter, r *http.Request) error { return s.scaleBy(w, r, -1) }

func (s *Server) scaleBy(w http.ResponseWriter, r *http.Request, sign int) error {
	p, e := s.pool(r.PathValue("name"))
	if e != nil {
		return e
	}
	var b countBody
	if e := readJSON(r, &b, true); e != nil {
		return e
	}
	n := 1
	if b.Count != nil {
		n = *b.Count
	}
	if n < 1 || n > maxStep {
		return badRequest("count", "must be between 1 and %d", maxStep)
	}
	verb := map[int]string{1: "scaleup", -1: "scaledown"}[sign]
	// The engine resolves the step against the count the pool is heading to.
	return s.requestPool(w, p, func() (int, int, error) {
		req, err := s.opt.Engine.RequestPoolStep(r.Context(), p.Name, sign*n, fmt.Sprintf("%s %d by %s", verb, n, who(r)))
		return req.Asked, req.Target, err
	})
}

func (s *Server) scaleTo(w http.ResponseWriter, r *http.Request) error {
	p, e := s.pool(r.PathValue("name"))
	if e != nil {
		return e
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n > 1_000_000 {
		return badRequest("n", "must be a whole number of machines >= 0, not %q", r.PathValue("n"))
	}
	return s.requestPool(w, p, func() (int, int, error) {
		got, err := s.opt.Engine.RequestPoolChange(r.Context(), p.Name, n, fmt.Sprintf("scaleto %d by %s", n, who(r)))
		return n, got, err
	})
}

// requestPool answers a manual pool request; ask makes it and returns the
// count asked and the target after clamping.
func (s *Server) requestPool(w http.ResponseWriter, p *config.Pool, ask func() (int, int, error)) error {
	target, got, err := ask()
	if errors.Is(err, engine.ErrUnknownPool) {
		return notFound("name", "no pool named %q", p.Name)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, PoolChange{Pool: p.Name, Requested: target, Target: got,
		Clamped: got != target, Min: p.Min, Max: p.Max})
	return nil
}

func (s *Server) cancelDrain(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := s.opt.Engine.CancelDrain(r.Context(), name)
	switch {
	case errors.Is(err, engine.ErrUnknownMachine):
		return notFound("name", "no machine named %q", name)
	case errors.Is(err, engine.ErrNotCancellable):
		return conflict("name", "%v", err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusAccepted, DrainCancelled{Machine: name, Cancel: true,
		Message: "the next tick returns the node to service"})
	return nil
}

// who names the caller's role for event reasons (never the token).
func who(r *http.Request) string {
	return "API (" + auth.RoleFrom(r.Context()).String() + ")"
}

func boolParam(r *http.Request, name string) (bool, *Error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(name, "must be true or false, not %q", v)
	}
	return b, nil
}
