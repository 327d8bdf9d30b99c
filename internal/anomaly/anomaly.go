// Package anomaly holds streaming anomaly detectors for one metric series
// (a service's CPU or network rate, one value per control-loop tick).
//
// Every detector:
//   - takes one value at a time, in arrival order, and never sees the
//     future (online);
//   - needs no timestamps: it assumes roughly regular sampling;
//   - returns a score in [0, 1], higher meaning more anomalous, calibrated
//     so that 0.5 is the detector's own alarm level (the thresholds NAB
//     finds best are all close to it, see docs/anomaly.md);
//   - scores 0 while it learns (its warm-up, documented per detector);
//   - keeps constant memory per stream and does not allocate in Score;
//   - reports an anomalous episode once: after an alarm it stays silent for
//     a while, because one alert per episode is what a human or a scaling
//     guard needs (and what NAB rewards). A caller that wants a "currently
//     anomalous" state should hold it for some time after the score
//     crosses the threshold.
//
// A Detector is not safe for concurrent use; use one per stream.
package anomaly

import (
	"fmt"
	"sort"
)

// Detector scores a stream of values one at a time.
type Detector interface {
	// Score consumes the next value and returns its anomaly score in
	// [0, 1]. NaN and ±Inf are ignored (scored 0, state unchanged).
	Score(v float64) float64
	// Reset forgets everything seen, as if newly constructed.
	Reset()
}

// Default is the name of the detector the control loop should use: an
// alias of the one with the best NAB standard score, currently "ensemble"
// (see docs/anomaly.md).
const Default = "default"

// registry maps names to constructors. Constructors return a fresh,
// independent detector with the parameters documented on each type.
var registry = map[string]func() Detector{
	"robustz":    func() Detector { return NewRobustZ(DefaultRobustZConfig()) },
	"relentropy": func() Detector { return NewRelEntropy(DefaultRelEntropyConfig()) },
	"knn":        func() Detector { return NewKNN(DefaultKNNConfig()) },
	"records":    func() Detector { return NewRecords(DefaultRecordsConfig()) },
	"ensemble":   func() Detector { return NewEnsemble(DefaultEnsembleConfig()) },
}

// aliases maps alternative names to registry names.
var aliases = map[string]string{
	Default: "ensemble",
}

// New returns a new detector by name (see Names), or an error for an
// unknown name.
func New(name string) (Detector, error) {
	if target, ok := aliases[name]; ok {
		name = target
	}
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("anomaly: unknown detector %q (known: %v)", name, Names())
	}
	return mk(), nil
}

// Names lists the registered detector names, sorted, without aliases.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
