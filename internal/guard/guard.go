// Package guard watches every app's load with an online anomaly detector and,
// for apps that ask for it, holds scale-ups while the load looks anomalous:
// Elascale's guard against economic denial of service, where an attack makes
// the autoscaler buy machines. The hold is bounded, so a real, sustained
// rise still scales. It also watches each app's traffic and, for apps with
// on_anomaly: throttle, rate-limits the tasks that made an anomaly of it
// (docs/netguard.md): the limit is desired state in a throttle.Book that
// the agents apply, and scale-ups are held while it lasts.
package guard

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist/hoist/internal/anomaly"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

var _ engine.Guard = (*Guard)(nil)

// Streams are the metrics each app's detectors watch, as totals over the
// app's running replicas (a per-replica figure jumps at every scale event,
// which is not an anomaly of the load). Every stream's anomalies are events;
// the first stream with data drives holds: the request rate is the load
// itself, while CPU is the app's answer to it and moves when hoist scales.
// net_rx and net_tx (bytes/s received and sent by the app's tasks) are the
// traffic streams: their anomalies name the tasks that made them and, with
// on_anomaly: throttle, limit those tasks.
var Streams = []string{"rps", "cpu", "net_rx", "net_tx"}

// Traffic gives each running task's bytes per second of a traffic stream
// (net_rx or net_tx) over the window, by task ID: the collector, or the
// simulator.
type Traffic interface {
	TaskBytes(ctx context.Context, app, metric string, window time.Duration) (map[string]float64, error)
}

// Net is what the guard needs to throttle: the book the limits go in and
// the per-task traffic that names the tasks. Its zero value throttles
// nothing (on_anomaly: throttle then only holds).
type Net struct {
	Book    *throttle.Book
	Traffic Traffic
}

// Guard feeds detectors and answers the engine's HoldScaleUp.
type Guard struct {
	mu      sync.Mutex
	cfg     config.Anomaly
	metrics engine.MetricSource
	events  engine.Recorder
	apps    map[string]*appState
	// lastFed avoids feeding twice at one instant (a dry-run plan observes too).
	lastFed time.Time
	net     Net
}

type appState struct {
	streams   map[string]*stream
	holdUntil time.Time // scale-ups held until then
	calmUntil time.Time // no new hold until then (bounds the share of time held)
	anomalies int
	last      Anomaly
	// throttles counts the app's limits applied, renewed and lifted.
	throttles map[string]int
}

type stream struct {
	det   anomaly.Detector
	score float64
	// last is the previous value fed (NaN before the first): detectors
	// score falls as well as rises, and only a rise of traffic throttles.
	last float64
	// tasks is each task's traffic at the last tick (traffic streams of
	// apps with on_anomaly: throttle): what a rise is measured from.
	tasks map[string]float64
}

// Anomaly is one detection.
type Anomaly struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"`
	Metric string    `json:"metric"`
	Value  float64   `json:"value"`
	Score  float64   `json:"score"`
	// Tasks are the tasks whose traffic made a traffic anomaly.
	Tasks []string `json:"tasks,omitempty"`
}

// New makes a guard. metrics gives the streams; events receives anomalies.
func New(cfg config.Anomaly, metrics engine.MetricSource, rec engine.Recorder) (*Guard, error) {
	return NewWithNet(cfg, metrics, rec, Net{})
}

// NewWithNet makes a guard that can throttle tasks through net.
func NewWithNet(cfg config.Anomaly, metrics engine.MetricSource, rec engine.Recorder, net Net) (*Guard, error) {
	if _, err := anomaly.New(cfg.Detector); err != nil {
		return nil, fmt.Errorf("controller.anomaly.detector: %w", err)
	}
	for _, m := range Streams {
		if _, err := newDetector(cfg, m); err != nil {
			return nil, fmt.Errorf("controller.anomaly.streams.%s: %w", m, err)
		}
	}
	return &Guard{cfg: cfg, metrics: metrics, events: rec, apps: map[string]*appState{}, net: net}, nil
}

// Observe feeds one value of every stream of every app to its detector,
// records anomalies as events and starts holds. running gives each app's
// running replicas. Call once per tick, before the engine decides.
func (g *Guard) Observe(ctx context.Context, now time.Time, apps []config.App, running map[string]int, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !now.After(g.lastFed) {
		return
	}
	g.lastFed = now
	g.expire(now)
	for _, a := range apps {
		st := g.app(a.Name)
		n := running[a.Name]
		driver := ""
		for _, m := range Streams {
			s := st.streams[m]
			if s == nil {
				det, _ := newDetector(g.cfg, m)
				s = &stream{det: det, last: math.NaN()}
				st.streams[m] = s
			}
			if n == 0 && math.IsNaN(s.last) {
				// The stream starts when the app first runs: the zeros of
				// its deployment would make its first load a record.
				continue
			}
			v := 0.0
			if n > 0 {
				per, err := g.metrics.Value(ctx, engine.MetricQuery{App: a.Name, Metric: m, Window: window})
				if err != nil {
					continue // a gap is not a value; the detector waits
				}
				v = per * float64(n)
			}
			if driver == "" {
				driver = m
			}
			s.score = s.det.Score(v)
			prev := s.last
			s.last = v
			var prevTasks, tasks map[string]float64
			if isTraffic(m) && a.OnAnomaly == config.OnAnomalyThrottle {
				// Kept every tick, so a rise can be told from a level.
				tasks = g.taskTraffic(ctx, a.Name, m, window)
				prevTasks, s.tasks = s.tasks, tasks
			}
			if s.score < g.cfg.Threshold {
				continue
			}
			st.anomalies++
			st.last = Anomaly{Time: now, App: a.Name, Metric: m, Value: v, Score: s.score}
			reason := fmt.Sprintf("%s total %.3g scored %.2f (threshold %.2f)", m, v, s.score, g.cfg.Threshold)
			var throttleTasks []string
			holds := a.OnAnomaly == config.OnAnomalyHold || a.OnAnomaly == config.OnAnomalyThrottle
			if isTraffic(m) {
				if tasks == nil {
					tasks = g.taskTraffic(ctx, a.Name, m, window)
				}
				st.last.Tasks = RiseContributors(prevTasks, tasks)
				reason += "; tasks " + describeTasks(st.last.Tasks)
			}
			switch {
			case isTraffic(m) && a.OnAnomaly == config.OnAnomalyThrottle && a.Throttle != nil && g.net.Book != nil:
				if !(v > prev) {
					// The end of a flood (or a limit biting) is an anomaly too,
					// but limiting tasks for sending less would be perverse.
					reason += ": a fall, nothing throttled"
					break
				}
				if len(st.last.Tasks) == 0 {
					reason += ": no task's traffic known, nothing throttled"
					break
				}
				reason += ": throttled (app.throttle)"
				throttleTasks = st.last.Tasks
			case isTraffic(m):
				reason += ": alert only"
			case !holds:
				reason += ": alert only"
			case m != driver:
				reason += ": alert only (holds follow " + driver + ")"
			case now.Before(st.holdUntil):
				reason += ": hold already running"
			case now.Before(st.calmUntil):
				reason += fmt.Sprintf(": not held, the last hold ended less than %s ago", g.cfg.Hold)
			default:
				st.holdUntil = now.Add(g.cfg.Hold.D())
				st.calmUntil = st.holdUntil.Add(g.cfg.Hold.D())
				reason += fmt.Sprintf(": scale-ups held for %s", g.cfg.Hold)
			}
			g.events.Record(events.Event{Time: now, Kind: events.AppAnomaly, App: a.Name, Reason: reason,
				Inputs: map[string]float64{m: v, "score": s.score}})
			if throttleTasks != nil {
				g.throttle(now, a.Name, throttleTasks, *a.Throttle, "anomaly", fmt.Sprintf("%s anomaly (score %.2f)", m, s.score))
			}
		}
	}
}

// newDetector is stream m's detector: controller.anomaly.streams' choice,
// else the guard's detector with its own warm-up.
func newDetector(cfg config.Anomaly, m string) (anomaly.Detector, error) {
	return anomaly.NewWarmup(cfg.StreamDetector(m), cfg.Streams[m].Warmup)
}

func (g *Guard) app(name string) *appState {
	st, ok := g.apps[name]
	if !ok {
		st = &appState{streams: map[string]*stream{}, throttles: map[string]int{}}
		g.apps[name] = st
	}
	return st
}

// HoldScaleUp implements engine.Guard.
func (g *Guard) HoldScaleUp(app string, now time.Time) (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.net.Book != nil {
		if e, ok := g.net.Book.Get(app, now); ok {
			return true, fmt.Sprintf("%s throttled (%s) until %s", describeTasks(e.Tasks), e.Limit.String(), e.Until.UTC().Format("15:04:05"))
		}
	}
	st, ok := g.apps[app]
	if !ok || !now.Before(st.holdUntil) {
		return false, ""
	}
	return true, fmt.Sprintf("%s looked anomalous at %s (score %.2f), hold for %s more",
		st.last.Metric, st.last.Time.UTC().Format("15:04:05"), st.last.Score, st.holdUntil.Sub(now).Round(time.Second))
}

var _ prometheus.Collector = (*Guard)(nil)

var (
	scoreDesc = prometheus.NewDesc("hoist_anomaly_score",
		"Last anomaly score of an app's metric stream (total over its replicas), in [0, 1].", []string{"app", "metric"}, nil)
	anomaliesDesc = prometheus.NewDesc("hoist_anomalies_total",
		"Anomalies detected on an app's metric streams.", []string{"app"}, nil)
	holdDesc = prometheus.NewDesc("hoist_anomaly_hold",
		"1 while an anomaly holds the app's scale-ups.", []string{"app"}, nil)
	throttledDesc = prometheus.NewDesc("hoist_app_throttled",
		"1 while hoist wants a rate limit on some of the app's tasks (desired state; hoist_task_throttled is what the agents applied).", []string{"app"}, nil)
	throttlesDesc = prometheus.NewDesc("hoist_throttles_total",
		"An app's rate limits applied, renewed and lifted.", []string{"app", "action"}, nil)
)

// Describe implements prometheus.Collector.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) {
	ch <- scoreDesc
	ch <- anomaliesDesc
	ch <- holdDesc
	ch <- throttledDesc
	ch <- throttlesDesc
}

// Collect implements prometheus.Collector: the detectors' state as of the
// last tick (holds are judged at the last observation, the loop's own time).
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, st := range g.apps {
		for m, s := range st.streams {
			ch <- prometheus.MustNewConstMetric(scoreDesc, prometheus.GaugeValue, s.score, name, m)
		}
		ch <- prometheus.MustNewConstMetric(anomaliesDesc, prometheus.CounterValue, float64(st.anomalies), name)
		held := 0.0
		if g.lastFed.Before(st.holdUntil) {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(holdDesc, prometheus.GaugeValue, held, name)
		if g.net.Book != nil {
			limited := 0.0
			if _, ok := g.net.Book.Get(name, g.lastFed); ok {
				limited = 1
			}
			ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.GaugeValue, limited, name)
			for _, action := range []string{"applied", "renewed", "lifted"} {
				ch <- prometheus.MustNewConstMetric(throttlesDesc, prometheus.CounterValue, float64(st.throttles[action]), name, action)
			}
		}
	}
}

// Status is an app's current detector state, for metrics and the dashboard.
type Status struct {
	App       string             `json:"app"`
	Scores    map[string]float64 `json:"scores"`
	Anomalies int                `json:"anomalies"`
	HeldUntil time.Time          `json:"held_until,omitempty"`
	Last      *Anomaly           `json:"last,omitempty"`
	// Throttle is the app's rate limit while one is wanted.
	Throttle *throttle.Entry `json:"throttle,omitempty"`
}

// Status returns every app's detector state.
func (g *Guard) Status() []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Status, 0, len(g.apps))
	for name, st := range g.apps {
		s := Status{App: name, Scores: map[string]float64{}, Anomalies: st.anomalies, HeldUntil: st.holdUntil}
		for m, x := range st.streams {
			s.Scores[m] = x.score
		}
		if st.anomalies > 0 {
			last := st.last
			s.Last = &last
		}
		if g.net.Book != nil {
			if e, ok := g.net.Book.Get(name, g.lastFed); ok {
				s.Throttle = &e
			}
		}
		out = append(out, s)
	}
	return out
}
