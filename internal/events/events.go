// Package events is hoist's record of what it decided and did, and why. Every
// decision, including "wanted to scale, held by cooldown", becomes an Event.
package events

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Kind says what an event is about. Kinds are dotted: the part before the dot
// is the subject (app, pool, machine, task, engine).
type Kind string

// Event kinds.
const (
	AppScale    Kind = "app.scale"    // replicas changed
	AppHold     Kind = "app.hold"     // wanted to change replicas, did not (reason says why)
	AppDeployed Kind = "app.deployed" // an app appeared
	AppRemoved  Kind = "app.removed"  // an app went away
	AppWarning  Kind = "app.warning"  // e.g. a managed service without reservations
	AppAnomaly  Kind = "app.anomaly"  // a metric stream looks anomalous
	AppThrottle Kind = "app.throttle" // a rate limit on tasks applied, renewed or lifted

	PoolScaleUp   Kind = "pool.scale_up"   // machines ordered
	PoolScaleDown Kind = "pool.scale_down" // nodes selected for removal
	PoolHold      Kind = "pool.hold"       // wanted machines, did not order them

	MachineOrdered        Kind = "machine.ordered"
	MachineReady          Kind = "machine.ready"
	MachineFailed         Kind = "machine.failed"
	MachineSelected       Kind = "machine.selected"
	MachineDraining       Kind = "machine.draining"
	MachineDrained        Kind = "machine.drained"
	MachineRemoved        Kind = "machine.removed"
	MachineDestroyed      Kind = "machine.destroyed"
	MachineDrainCancelled Kind = "machine.drain_cancelled"
	MachineAdopted        Kind = "machine.adopted"

	TaskUnschedulable Kind = "task.unschedulable" // a task fits no machine shape, or fails a constraint

	EngineError Kind = "engine.error"
	EngineInfo  Kind = "engine.info"

	// hoist run --ha (internal/lease): this process became the leader, was
	// replaced by another, or stopped leading on its own (reason says why).
	LeaderAcquired    Kind = "leader.acquired"
	LeaderLost        Kind = "leader.lost"
	LeaderSteppedDown Kind = "leader.stepped_down"
)

// Event is one record of the log.
type Event struct {
	// Seq orders events; assigned by the log.
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"kind"`
	App     string    `json:"app,omitempty"`
	Pool    string    `json:"pool,omitempty"`
	Node    string    `json:"node,omitempty"`
	Machine string    `json:"machine,omitempty"`
	// From and To are replica or machine counts when the event changes one.
	From int `json:"from,omitempty"`
	To   int `json:"to,omitempty"`
	// Reason is a sentence for people: "cpu 92% > target 60%: ceil(3 x 92/60) = 5".
	Reason string `json:"reason"`
	// Inputs are the figures the decision was made on.
	Inputs map[string]float64 `json:"inputs,omitempty"`
	DryRun bool               `json:"dry_run,omitempty"`
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %-22s %-12s %s", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Kind, e.Subject(), e.Reason)
	if e.DryRun {
		s += " (dry run)"
	}
	return s
}

// Subject is what the event is about: its machine for machine.* events
// (their pool is known from the machine), else its app, pool, machine or
// node, the first one set.
func (e Event) Subject() string {
	if strings.HasPrefix(string(e.Kind), "machine.") && e.Machine != "" {
		return e.Machine
	}
	for _, s := range []string{e.App, e.Pool, e.Machine, e.Node} {
		if s != "" {
			return s
		}
	}
	return ""
}

// Filter selects events; zero fields match everything.
type Filter struct {
	App, Pool, Machine string
	Kinds              []Kind
	// KindPrefix matches kinds starting with it ("machine.").
	KindPrefix   string
	Since, Until time.Time
	AfterSeq     uint64
	Limit        int
}

// Match reports whether e passes f.
func (f Filter) Match(e Event) bool {
	if f.App != "" && e.App != f.App {
		return false
	}
	if f.Pool != "" && e.Pool != f.Pool {
		return false
	}
	if f.Machine != "" && e.Machine != f.Machine {
		return false
	}
	if f.AfterSeq != 0 && e.Seq <= f.AfterSeq {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	if f.KindPrefix != "" && (len(e.Kind) < len(f.KindPrefix) || string(e.Kind[:len(f.KindPrefix)]) != f.KindPrefix) {
		return false
	}
	if len(f.Kinds) > 0 {
		for _, k := range f.Kinds {
			if k == e.Kind {
				return true
			}
		}
		return false
	}
	return true
}

// Memory is an in-memory event log of bounded size with live subscribers. It is
// what the simulator uses, and the front of the durable store.
type Memory struct {
	mu   sync.Mutex
	buf  []Event // ring
	max  int     // len(buf) once full
	head int     // index of the oldest event when full
	full bool
	seq  uint64
	subs map[chan Event]struct{}
}

// NewMemory keeps the last max events (at least 1).
func NewMemory(max int) *Memory {
	if max < 1 {
		max = 1
	}
	// The ring grows as events come instead of being made at its full size:
	// a simulation keeps a few hundred of 100,000, and every garbage
	// collection scans the whole array (events hold strings).
	return &Memory{max: max, subs: map[chan Event]struct{}{}}
}

// Record appends e, assigns its sequence number and tells subscribers. A slow
// subscriber misses events rather than stalling the control loop.
func (m *Memory) Record(e Event) Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	e.Seq = m.seq
	if len(m.buf) < m.max {
		m.buf = append(m.buf, e)
	} else {
		m.buf[m.head] = e
		m.head = (m.head + 1) % len(m.buf)
		m.full = true
	}
	for ch := range m.subs {
		select {
		case ch <- e:
		default:
		}
	}
	return e
}

// LastSeq is the sequence number of the newest event.
func (m *Memory) LastSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// List returns the matching events, oldest first, at most f.Limit (the newest
// ones) when a limit is set.
func (m *Memory) List(f Filter) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	n := len(m.buf)
	// Sequence numbers are consecutive in the ring: skip straight past AfterSeq.
	start := 0
	if oldest := m.seq - uint64(n) + 1; f.AfterSeq >= oldest && n > 0 {
		start = int(f.AfterSeq - oldest + 1)
	}
	for i := start; i < n; i++ {
		e := m.buf[(m.head+i)%n]
		if f.Match(e) {
			out = append(out, e)
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

// Subscribe returns a channel of new events and a function to stop.
func (m *Memory) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, ch)
			m.mu.Unlock()
			close(ch)
		})
	}
}
