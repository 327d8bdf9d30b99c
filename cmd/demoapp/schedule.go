package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// schedule is a request rate that repeats every period: rates at offsets
// into the period, linear in between (and from the last back to the first,
// one period on). It makes a load that repeats a ramp, as a test of a
// forecast needs.
type schedule struct {
	period time.Duration
	epoch  time.Time // the schedule's time zero
	at     []time.Duration
	rate   []float64
}

// parseSchedule reads "0s=20,20s=20,26s=80" (offset=req/s, offsets within
// the period, in any order).
func parseSchedule(s string, period time.Duration, epoch time.Time) (*schedule, error) {
	if period <= 0 {
		return nil, fmt.Errorf("--period must be > 0 with --schedule")
	}
	type pt struct {
		at   time.Duration
		rate float64
	}
	var pts []pt
	for _, f := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return nil, fmt.Errorf("--schedule: %q is not OFFSET=RATE", f)
		}
		at, err := time.ParseDuration(k)
		if err != nil || at < 0 || at >= period {
			return nil, fmt.Errorf("--schedule: offset %q must be a duration in [0, %s)", k, period)
		}
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1e6 || r != r {
			return nil, fmt.Errorf("--schedule: rate %q must be a number of requests/s in [0, 1e6]", v)
		}
		pts = append(pts, pt{at, r})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].at < pts[j].at })
	sc := &schedule{period: period, epoch: epoch}
	for i, p := range pts {
		if i > 0 && p.at == pts[i-1].at {
			return nil, fmt.Errorf("--schedule: offset %s given twice", p.at)
		}
		sc.at, sc.rate = append(sc.at, p.at), append(sc.rate, p.rate)
	}
	return sc, nil
}

// rateAt is the rate at t.
func (sc *schedule) rateAt(t time.Time) float64 {
	x := t.Sub(sc.epoch) % sc.period
	if x < 0 {
		x += sc.period
	}
	n := len(sc.at)
	i := sort.Search(n, func(i int) bool { return sc.at[i] > x }) // first point after x
	a, b := (i-1+n)%n, i%n
	from, to := sc.at[a], sc.at[b]
	if a == n-1 && x < from { // before the first point: the wrap from the last
		from -= sc.period
	}
	if to <= from {
		to += sc.period
	}
	if to == from {
		return sc.rate[a]
	}
	f := float64(x-from) / float64(to-from)
	return sc.rate[a] + f*(sc.rate[b]-sc.rate[a])
}

// paced sends requests at the schedule's rate (open loop): a credit of
// rate x elapsed time, one request per whole unit.
func (g *generator) paced(ctx context.Context, sc *schedule) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	sem := make(chan struct{}, 256)
	last, credit := time.Now(), 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			credit += sc.rateAt(now) * now.Sub(last).Seconds()
			last = now
			for ; credit >= 1; credit-- {
				select {
				case sem <- struct{}{}:
					go func() { defer func() { <-sem }(); g.one(ctx) }()
				default:
					g.failed.Add(1)
				}
			}
		}
	}
}
