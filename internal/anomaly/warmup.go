package anomaly

import "fmt"

// MinWarmup is the shortest warm-up NewWarmup accepts: below it no
// detector has a reference worth the name (robustz's window is floored at 8).
const MinWarmup = 8

// NewWarmup is New with the detector's warm-up set to warmup values (0:
// its own, as New). It is for streams whose anomalies are gross and must be
// caught soon after the stream starts (a traffic flood of an app deployed a
// minute ago), at the price of more false alarms early on: the reference is
// shorter, so ordinary noise looks new more often. The registered defaults,
// and so the NAB figures, are unchanged.
//
//   - robustz: the reference window is warmup values (it is also the
//     warm-up), so it also forgets faster;
//   - records: the values seen before scoring;
//   - relentropy: the values seen before scoring, at least its window (52);
//   - ensemble (default): its records member's; the KNN members join when
//     they have the history they need, as with the default warm-up.
//
// knn's warm-up follows from its contexts and calibration, so it is refused.
func NewWarmup(name string, warmup int) (Detector, error) {
	if warmup == 0 {
		return New(name)
	}
	if warmup < MinWarmup {
		return nil, fmt.Errorf("anomaly: warm-up %d is below %d values", warmup, MinWarmup)
	}
	canonical := name
	if target, ok := aliases[name]; ok {
		canonical = target
	}
	switch canonical {
	case "robustz":
		cfg := DefaultRobustZConfig()
		cfg.Window = warmup
		return NewRobustZ(cfg), nil
	case "records":
		cfg := DefaultRecordsConfig()
		cfg.Warmup = warmup
		return NewRecords(cfg), nil
	case "relentropy":
		cfg := DefaultRelEntropyConfig()
		cfg.Warmup = warmup
		return NewRelEntropy(cfg), nil
	case "ensemble":
		cfg := DefaultEnsembleConfig()
		cfg.Records.Warmup = warmup
		return NewEnsemble(cfg), nil
	}
	if _, err := New(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("anomaly: detector %q has no settable warm-up (robustz, records, relentropy and ensemble have)", name)
}
