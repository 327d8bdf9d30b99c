package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/prom"
	"github.com/hoist/hoist/internal/workload"
)

// promFlags select an app's own history as the bench's load: its request
// rate from Prometheus over the last --since, a value per --step.
type promFlags struct {
	url, query, since string
}

func (p *promFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.url, "prometheus", "", "Prometheus URL to read the app's request rate from (with --query; auth and TLS from the descriptor's prometheus block)")
	f.StringVar(&p.query, "query", "", "PromQL giving the app's requests/s as one series, e.g. 'sum(rate(http_requests_total{app=\"web\"}[5m]))'")
	f.StringVar(&p.since, "since", "7d", "how far back the history goes (Prometheus units: 30m, 12h, 7d, 2w)")
}

func (p *promFlags) set() bool { return p.url != "" || p.query != "" }

// parseSince reads a Prometheus-style duration: Go's units plus d (24 h) and
// w (7 d), e.g. 7d, 1w, 36h, 1d12h.
func parseSince(s string) (time.Duration, error) {
	var total time.Duration
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for rest != "" {
		i := strings.IndexAny(rest, "dw")
		if i < 0 {
			d, err := time.ParseDuration(rest)
			if err != nil {
				return 0, err
			}
			total += d
			break
		}
		// A number then d or w; whatever comes before must be a Go duration
		// only if it ends in a unit, which would have been consumed first, so
		// the prefix here is the count.
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %q is not a whole number of %c", s, rest[:i], rest[i])
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q: want more than 0", s)
	}
	return total, nil
}

// load fetches the history and makes it a trace: one value per step from
// since ago to now, a step without a value holding the last one (the first
// ones, the first value). It says what it read, for the report.
func (p *promFlags) load(ctx context.Context, cfg *config.Config, tf *traceFlags, now time.Time) (*workload.Series, string, error) {
	if p.url == "" || p.query == "" {
		return nil, "", usageErrorf("--prometheus URL and --query PROMQL go together")
	}
	if tf.file != "" {
		return nil, "", usageErrorf("--trace and --prometheus are two loads: give one")
	}
	since, err := parseSince(p.since)
	if err != nil {
		return nil, "", usageErrorf("--since: %v", err)
	}
	step := tf.step
	if step <= 0 {
		return nil, "", usageErrorf("--step must be more than 0")
	}
	pc := cfg.Prometheus
	pc.URL = p.url
	c, err := prom.New(pc)
	if err != nil {
		return nil, "", fmt.Errorf("--prometheus: %w", err)
	}
	end := now.Truncate(step)
	start := end.Add(-since)
	pts, err := c.QueryRange(ctx, p.query, start, end, step)
	if err != nil {
		return nil, "", fmt.Errorf("prometheus %s: %w", p.url, err)
	}
	s, filled := seriesOf(pts, start, end, step)
	s.Name = p.query
	s.CutZeroRuns(tf.cutZeros)
	if tf.peak > 0 {
		s.ScaleToPeak(tf.peak)
	}
	what := fmt.Sprintf("Prometheus %s, %s, %s to %s, a value per %s", p.url, p.query,
		start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), step)
	if filled > 0 {
		what += fmt.Sprintf(" (%d of %d steps without a value held the last one)", filled, len(s.Values))
	}
	if tf.cutZeros > 0 {
		what += fmt.Sprintf(", zero runs of %s or more cut", tf.cutZeros)
	}
	if tf.peak > 0 {
		what += fmt.Sprintf(", rescaled to a peak of %g req/s", tf.peak)
	}
	return s, what, nil
}

// seriesOf lays points (in time order) on the steps from start to end and
// fills the steps without one; filled counts those.
func seriesOf(pts []prom.Point, start, end time.Time, step time.Duration) (*workload.Series, int) {
	n := int(end.Sub(start)/step) + 1
	vals := make([]float64, n)
	has := make([]bool, n)
	for _, p := range pts {
		i := int(p.Time.Sub(start) / step)
		if i >= 0 && i < n {
			vals[i], has[i] = p.Value, true
		}
	}
	filled, last, first := 0, 0.0, -1
	for i := range vals {
		if has[i] {
			if first < 0 {
				first = i
			}
			last = vals[i]
			continue
		}
		vals[i] = last
		filled++
	}
	for i := 0; i < first; i++ {
		vals[i] = vals[first]
	}
	return &workload.Series{Values: vals, Step: step}, filled
}
