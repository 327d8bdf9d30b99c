package config

import (
	"slices"
	"sort"
	"strings"

	"github.com/hoist/hoist/internal/anomaly"
)

// maxWarmup bounds a stream's warm-up (a day of 2 s ticks is 43,200).
const maxWarmup = 100_000

// checkStreams checks controller.anomaly.streams: known streams, and a
// detector that exists and can take the warm-up.
func (a *Anomaly) checkStreams(ck *checker) {
	keys := make([]string, 0, len(a.Streams))
	for k := range a.Streams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := "controller.anomaly.streams." + k
		if !slices.Contains(AnomalyStreams, k) {
			ck.add(path, "unknown stream (known: %s)", strings.Join(AnomalyStreams, ", "))
			continue
		}
		s := a.Streams[k]
		if s.Warmup < 0 || s.Warmup > maxWarmup {
			ck.add(path+".warmup", "must be between %d and %d values (0: the detector's own)", anomaly.MinWarmup, maxWarmup)
			continue
		}
		if _, err := anomaly.NewWarmup(a.StreamDetector(k), s.Warmup); err != nil {
			msg := strings.TrimPrefix(err.Error(), "anomaly: ")
			switch {
			case !strings.Contains(msg, "unknown detector"):
				ck.add(path+".warmup", "%s", msg)
			case s.Detector != "":
				ck.add(path+".detector", "%s", msg)
			}
		}
	}
}

// StreamDetector is the detector name for a stream.
func (a *Anomaly) StreamDetector(stream string) string {
	if s, ok := a.Streams[stream]; ok && s.Detector != "" {
		return s.Detector
	}
	if a.Detector == "" {
		return anomaly.Default
	}
	return a.Detector
}
