package engine

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

// The control plane at scale: one decision (decide, pure) and one whole tick
// (observe, decide, act against in-memory seams) with 1,000 and 10,000
// services over 100 and 1,000 machines.
//
//	go test ./internal/engine -run '^$' -bench . -benchtime 20x
//
// Two load situations:
//   - steady: nothing to scale; every tick still evaluates every policy and
//     the scale-in question for every node (some nodes are nearly empty);
//   - surge: one service in ten is at 95 % CPU against a 60 % target and
//     asks for more replicas, which are bin-packed into the free room.
//
// Reported per op: time, allocations and bytes (-benchmem); and heap-MB and
// live-MB (see reportHeap): a tick's peak heap is at most live-MB + B/op.

type scaleCase struct {
	services, machines int
	surge              bool
}

func (c scaleCase) String() string {
	mode := "steady"
	if c.surge {
		mode = "surge"
	}
	return fmt.Sprintf("services=%d/machines=%d/%s", c.services, c.machines, mode)
}

var scaleCases = []scaleCase{
	{1000, 100, false}, {1000, 100, true},
	{1000, 1000, false}, {1000, 1000, true},
	{10000, 100, false}, {10000, 100, true},
	{10000, 1000, false}, {10000, 1000, true},
}

const (
	replicasPerService = 2
	benchMachineCPUs   = 64
	benchMachineMem    = 256 << 30
)

// world is a prepared cluster: descriptor, orchestrator state, provider view,
// machine records and metrics.
type world struct {
	cfg      *config.Config
	state    cluster.State
	machines []cluster.Machine
	records  []cluster.MachineRecord
	metrics  map[string][]Sample
	start    time.Time
}

// newWorld spreads the services' tasks over nine tenths of the machines, so
// those are about 60 % reserved, and puts one task on each of the last tenth,
// which are scale-in candidates.
func newWorld(c scaleCase) *world {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tasks := c.services * replicasPerService
	heavy := max(1, c.machines*9/10)
	light := c.machines - heavy
	perHeavy := (tasks - light + heavy - 1) / heavy
	taskCPU := 0.6 * benchMachineCPUs / float64(perHeavy)
	taskMem := config.Bytes(int64(benchMachineMem) * 3 / 10 / int64(perHeavy))
	cfg := &config.Config{
		Controller: config.Controller{Interval: config.Duration(10 * time.Second)},
		Pools: []config.Pool{{Name: "workers", Provider: "sim", Min: 1, Max: c.machines + 100,
			Machine:   config.Shape{CPUs: benchMachineCPUs, Memory: benchMachineMem},
			ScaleDown: config.ScaleDown{Below: 0.5, For: config.Duration(1e4 * time.Hour)}}},
	}
	w := &world{cfg: cfg, metrics: map[string][]Sample{}, start: start}
	res := cluster.Resources{MilliCPU: cluster.CPUs(taskCPU), Memory: int64(taskMem)}
	for i := 0; i < c.machines; i++ {
		name := fmt.Sprintf("workers-%04d", i)
		w.state.Nodes = append(w.state.Nodes, cluster.Node{ID: "node-" + name, Hostname: name, Machine: name, Pool: "workers",
			Ready: true, Availability: cluster.Active, Capacity: cluster.Resources{MilliCPU: benchMachineCPUs * 1000, Memory: benchMachineMem}})
		w.machines = append(w.machines, cluster.Machine{Name: name, Pool: "workers", ID: name, Status: cluster.MachineRunning})
		w.records = append(w.records, cluster.MachineRecord{Name: name, Pool: "workers", Phase: cluster.PhaseReady, NodeID: "node-" + name, OrderedAt: start, Since: start})
	}
	next := 0
	place := func() string {
		// The light machines get one task each first, then round-robin over the heavy ones.
		var n int
		if next < light {
			n = heavy + next
		} else {
			n = (next - light) % heavy
		}
		next++
		return w.state.Nodes[n].ID
	}
	for i := 0; i < c.services; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		app := config.App{Name: name, Image: "x", Pools: []string{"workers"},
			Resources: config.Resources{Reservations: config.Shape{CPUs: taskCPU, Memory: taskMem}, Limits: config.Shape{CPUs: taskCPU, Memory: taskMem}},
			Replicas:  config.Replicas{Min: 1, Max: 100},
			Policies:  []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: 60}}}
		cfg.Apps = append(cfg.Apps, app)
		w.state.Services = append(w.state.Services, cluster.Service{Name: name, ID: name, Desired: replicasPerService, Reservation: res, Limit: res, Pools: []string{"workers"}})
		for r := 0; r < replicasPerService; r++ {
			w.state.Tasks = append(w.state.Tasks, cluster.Task{ID: fmt.Sprintf("%s.%d", name, r), Service: name, NodeID: place(),
				State: cluster.TaskRunning, Reservation: res, Since: start})
		}
		cpu := 60.0 // on target: no change
		if c.surge && i%10 == 0 {
			cpu = 95
		}
		w.metrics[name] = []Sample{{Value: cpu, OK: true}}
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return w
}

func (w *world) snapshot(now time.Time) *Snapshot {
	return &Snapshot{Time: now, State: w.state, Machines: map[string][]cluster.Machine{"workers": w.machines},
		ProviderErr: map[string]string{}, Records: w.records, Busy: map[string]bool{}, Apps: w.cfg.Apps,
		Metrics: w.metrics, AnomalyHold: map[string]string{}}
}

// reportHeap reports the heap the process holds after the ticks (heap-MB,
// garbage not yet collected included) and what stays live after a collection
// (live-MB: the prepared cluster, the engine's records and memory). A tick's
// peak heap is at most live-MB plus its B/op.
func reportHeap(b *testing.B) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-MB")
}

// BenchmarkDecide is the decision alone: the pure function over a snapshot.
func BenchmarkDecide(b *testing.B) {
	for _, c := range scaleCases {
		b.Run(c.String(), func(b *testing.B) {
			w := newWorld(c)
			m := newMemory()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := w.snapshot(w.start.Add(time.Duration(i) * 10 * time.Second))
				s.Records = w.records
				var p *Plan
				p, m = decide(w.cfg, s, m)
				if c.surge && p.Apps[0].Desired <= replicasPerService {
					b.Fatalf("surge: %s desired %d, want a scale-up", p.Apps[0].App, p.Apps[0].Desired)
				}
			}
			b.StopTimer()
			reportHeap(b)
			runtime.KeepAlive(w)
			runtime.KeepAlive(m)
		})
	}
}

// staticCluster answers State with the prepared state, as Swarm would answer
// a cluster that does not change, and accepts every call.
type staticCluster struct{ w *world }

func (s staticCluster) State(context.Context) (cluster.State, error) {
	st := s.w.state
	// A fresh answer each time, like a decoded API response.
	st.Services = append([]cluster.Service(nil), st.Services...)
	st.Tasks = append([]cluster.Task(nil), st.Tasks...)
	st.Nodes = append([]cluster.Node(nil), st.Nodes...)
	return st, nil
}
func (staticCluster) Scale(context.Context, string, int) error      { return nil }
func (staticCluster) Deploy(context.Context, config.App, int) error { return nil }
func (staticCluster) Remove(context.Context, string) error          { return nil }
func (staticCluster) Drain(context.Context, string) error           { return nil }
func (staticCluster) Activate(context.Context, string) error        { return nil }
func (staticCluster) RemoveNode(context.Context, string) error      { return nil }
func (s staticCluster) Create(_ context.Context, n string) (cluster.Machine, error) {
	return cluster.Machine{Name: n, Pool: "workers", Status: cluster.MachineCreating}, nil
}
func (staticCluster) Destroy(context.Context, string) error { return nil }
func (s staticCluster) List(context.Context) ([]cluster.Machine, error) {
	return append([]cluster.Machine(nil), s.w.machines...), nil
}
func (s staticCluster) Value(_ context.Context, q MetricQuery) (float64, error) {
	return s.w.metrics[q.App][0].Value, nil
}

// processCPU is the CPU time of the whole process so far (user and system,
// every thread: the GC's work too). On a shared machine it is the figure to
// compare: wall-clock ns/op grows with what other processes run.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTick is one whole tick: observe (state, machines, one metric query
// per service), decide, act (scale calls, events).
func BenchmarkTick(b *testing.B) {
	for _, c := range scaleCases {
		b.Run(c.String(), func(b *testing.B) {
			w := newWorld(c)
			sc := staticCluster{w}
			st := store.NewMemory()
			for _, r := range w.records {
				if err := st.PutMachine(context.Background(), r); err != nil {
					b.Fatal(err)
				}
			}
			clk := clock.NewVirtual(w.start)
			e, err := New(w.cfg, Deps{Orchestrator: sc, Providers: map[string]Provider{"workers": sc}, Metrics: sc,
				Clock: clk, Store: st, Events: events.NewMemory(10_000)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				clk.Advance(10 * time.Second)
				if _, err := e.Tick(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			reportHeap(b)
			runtime.KeepAlive(e)
			runtime.KeepAlive(w)
		})
	}
}
