package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist/hoist/internal/throttle"
)

var _ prometheus.Collector = (*Collector)(nil)

var (
	descAppNet = prometheus.NewDesc("hoist_app_net_bytes_per_second",
		"Network traffic of an app's running tasks together, bytes per second (rx: received by the tasks, tx: sent).", []string{"app", "direction"}, nil)
	descTaskNet = prometheus.NewDesc("hoist_task_net_bytes_per_second",
		"Network traffic of one task over its interfaces, bytes per second.", []string{"app", "task", "direction"}, nil)
	descTaskPackets = prometheus.NewDesc("hoist_task_net_packets_per_second",
		"Packets of one task over its interfaces, per second.", []string{"app", "task", "direction"}, nil)
	descTaskDropped = prometheus.NewDesc("hoist_task_net_dropped_per_second",
		"Packets of one task dropped by its interfaces, per second.", []string{"app", "task", "direction"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAppNet
	ch <- descTaskNet
	ch <- descTaskPackets
	ch <- descTaskDropped
	describeThrottle(ch)
}

// Collect implements prometheus.Collector: every running task's traffic over
// the last scrapes, and its app's total; nothing for a task without two
// samples (absent, not zero).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	win := 3 * c.opt.Interval
	for _, svc := range c.state.Services {
		per := taskNet(svc, c.state.Tasks, c.samples, now, win)
		if len(per) == 0 {
			continue
		}
		var rx, tx float64
		for task, r := range per {
			rx += r.RxBytes
			tx += r.TxBytes
			g := func(d *prometheus.Desc, v float64, dir string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, svc.Name, task, dir)
			}
			g(descTaskNet, r.RxBytes, "rx")
			g(descTaskNet, r.TxBytes, "tx")
			g(descTaskPackets, r.RxPackets, "rx")
			g(descTaskPackets, r.TxPackets, "tx")
			g(descTaskDropped, r.RxDropped, "rx")
			g(descTaskDropped, r.TxDropped, "tx")
		}
		ch <- prometheus.MustNewConstMetric(descAppNet, prometheus.GaugeValue, rx, svc.Name, "rx")
		ch <- prometheus.MustNewConstMetric(descAppNet, prometheus.GaugeValue, tx, svc.Name, "tx")
	}
	c.collectThrottle(ch)
}

var (
	descThrottled = prometheus.NewDesc("hoist_task_throttled",
		"1 while hoist's rate limit is applied on a task (as its agent reported), with the limit's rate in bit/s as rate.", []string{"app", "task"}, nil)
	descThrottleRate = prometheus.NewDesc("hoist_task_throttle_rate_bits",
		"The rate of hoist's limit on a task, bits per second each way.", []string{"app", "task"}, nil)
	descThrottleBytes = prometheus.NewDesc("hoist_task_throttle_bytes_total",
		"Bytes through the limit's qdisc of a task (egress: sent by the task, ingress: received).", []string{"app", "task", "direction"}, nil)
	descThrottleDrops = prometheus.NewDesc("hoist_task_throttle_drops_total",
		"Packets dropped by the limit's qdisc of a task.", []string{"app", "task", "direction"}, nil)
	descThrottleOver = prometheus.NewDesc("hoist_task_throttle_overlimits_total",
		"Times the limit's qdisc of a task held packets back over the rate.", []string{"app", "task", "direction"}, nil)
	descThrottleErr = prometheus.NewDesc("hoist_task_throttle_error",
		"1 while a task's agent could not apply or read the limit hoist wants.", []string{"app", "task"}, nil)
)

func describeThrottle(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descThrottled, descThrottleRate, descThrottleBytes, descThrottleDrops, descThrottleOver, descThrottleErr} {
		ch <- d
	}
}

// collectThrottle exports the limits' own counters. c.mu is held.
func (c *Collector) collectThrottle(ch chan<- prometheus.Metric) {
	for task, t := range c.throttled {
		if t.err != "" {
			ch <- prometheus.MustNewConstMetric(descThrottleErr, prometheus.GaugeValue, 1, t.app, task)
		}
		if t.state == nil {
			continue
		}
		applied := 0.0
		if t.state.Applied {
			applied = 1
		}
		ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.GaugeValue, applied, t.app, task)
		ch <- prometheus.MustNewConstMetric(descThrottleRate, prometheus.GaugeValue, float64(t.state.Rate), t.app, task)
		for dir, k := range map[string]throttle.Counters{"egress": t.state.Egress, "ingress": t.state.Ingress} {
			ch <- prometheus.MustNewConstMetric(descThrottleBytes, prometheus.CounterValue, float64(k.Bytes), t.app, task, dir)
			ch <- prometheus.MustNewConstMetric(descThrottleDrops, prometheus.CounterValue, float64(k.Drops), t.app, task, dir)
			ch <- prometheus.MustNewConstMetric(descThrottleOver, prometheus.CounterValue, float64(k.Overlimits), t.app, task, dir)
		}
	}
}
