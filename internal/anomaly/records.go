package anomaly

import "math"

// RecordsConfig parameterises Records. Each feature has a margin: the
// amount by which the feature must beat its previous extreme, as a
// fraction of the feature's observed range, to score 0.5 (an alarm).
type RecordsConfig struct {
	Warmup int // values seen before anything is scored

	ValueMargin float64 // new extreme value (either direction)

	LevelWindow int     // values in the running median
	LevelMargin float64 // new extreme of the running median

	SpreadWindow int     // values in the running interquartile range
	SpreadMargin float64 // new maximum of the interquartile range

	ShiftBaseline int     // values in the robust baseline of the CUSUM
	ShiftSlack    float64 // CUSUM reference value k, in robust deviations
	ShiftClamp    float64 // robust z-scores are clamped to ±ShiftClamp
	ShiftMargin   float64 // new maximum of the two-sided CUSUM

	Refractory int     // points silenced after an alarm
	HalfLife   float64 // half-life of the suppression ceiling, in points
}

// DefaultRecordsConfig is the configuration registered as "records" and
// used inside "ensemble". The values were picked on the whole NAB corpus
// from coarse grids (docs/anomaly.md), never per file.
func DefaultRecordsConfig() RecordsConfig {
	return RecordsConfig{
		Warmup:        150,
		ValueMargin:   0.005,
		LevelWindow:   10,
		LevelMargin:   0.05,
		SpreadWindow:  100,
		SpreadMargin:  0.05,
		ShiftBaseline: 500,
		ShiftSlack:    0.5,
		ShiftClamp:    4,
		ShiftMargin:   0.15,
		Refractory:    30,
		HalfLife:      30,
	}
}

// extremes tracks the all-time minimum and maximum of a feature.
type extremes struct{ lo, hi float64 }

func (x *extremes) reset() { x.lo, x.hi = math.Inf(1), math.Inf(-1) }

func (x *extremes) add(v float64) { x.lo, x.hi = math.Min(x.lo, v), math.Max(x.hi, v) }

// span is the observed range, or a tiny positive stand-in when the feature
// has been constant (so that any change from a flat line stands out).
func (x *extremes) span() float64 {
	s := x.hi - x.lo
	if s <= 0 {
		s = math.Max(math.Abs(x.hi), 1) * 1e-6
	}
	return s
}

// above is how far v beats the maximum, in ranges (0 when it does not, or
// before anything was seen).
func (x *extremes) above(v float64) float64 {
	if x.hi < x.lo {
		return 0
	}
	return math.Max(0, v-x.hi) / x.span()
}

// below is how far v undercuts the minimum, in ranges.
func (x *extremes) below(v float64) float64 {
	if x.hi < x.lo {
		return 0
	}
	return math.Max(0, x.lo-v) / x.span()
}

// Records is hoist's own detector: "extremal records". An anomaly is taken
// to be a moment when some feature of the stream goes beyond anything seen
// before, by a margin relative to the range that feature has covered. Four
// features cover the common failure shapes:
//
//   - the value itself, both ways (spikes, drops, a level never seen);
//   - the running median of LevelWindow values, both ways (level shifts
//     that single spikes have already "used up" the value range for);
//   - the running interquartile range of SpreadWindow values, upwards
//     (noise or burstiness growing);
//   - a two-sided CUSUM (Page 1954) of robust z-scores against the median
//     and scale of the last ShiftBaseline values, z clamped to ±ShiftClamp
//     and slack ShiftSlack (sustained moderate shifts).
//
// Comparing a feature with its own history is what makes one threshold fit
// every series: records of i.i.d. data become rare (the n-th value is a
// record with probability 1/n), however noisy or large the series is.
// Each feature's exceedance divided by its margin gives x; the score is
// x/(1+x) for the largest x, so 0.5 means "a feature beat its record by its
// margin". Scores of 0.5 and more are alarms: one that passes the
// suppression silences the detector for Refractory points, and afterwards a
// score must beat a ceiling that decays from the last high score with
// HalfLife, so one episode raises one alert.
//
// Memory: the windows above, O(ShiftBaseline) floats. Time: O(window) per
// value for the sorted windows, no allocation.
type Records struct {
	cfg  RecordsConfig
	n    int
	refr int
	sup  suppressor

	value extremes

	level      sortedWindow
	levelRange extremes

	spread      sortedWindow
	spreadRange extremes

	base       sortedWindow
	cusumUp    float64
	cusumDown  float64
	cusumRange extremes
}

// NewRecords returns a Records detector.
func NewRecords(cfg RecordsConfig) *Records {
	cfg.LevelWindow = max(cfg.LevelWindow, 1)
	cfg.SpreadWindow = max(cfg.SpreadWindow, 4)
	cfg.ShiftBaseline = max(cfg.ShiftBaseline, 8)
	d := &Records{
		cfg:    cfg,
		level:  newSortedWindow(cfg.LevelWindow),
		spread: newSortedWindow(cfg.SpreadWindow),
		base:   newSortedWindow(cfg.ShiftBaseline),
		sup:    newSuppressor(cfg.HalfLife),
	}
	d.Reset()
	return d
}

// Reset implements Detector.
func (d *Records) Reset() {
	d.n, d.refr = 0, 0
	d.sup.reset()
	d.value.reset()
	d.level.reset()
	d.levelRange.reset()
	d.spread.reset()
	d.spreadRange.reset()
	d.base.reset()
	d.cusumUp, d.cusumDown = 0, 0
	d.cusumRange.reset()
}

// Score implements Detector.
func (d *Records) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return suppress(&d.sup, &d.refr, d.cfg.Refractory, evidence(d.evidence(v)))
}

// evidence updates the state with v and returns its evidence ratio x
// (unsuppressed; x >= 1 is an alarm).
func (d *Records) evidence(v float64) float64 {
	d.n++
	scoring := d.n > d.cfg.Warmup
	x := 0.0 // largest exceedance over margin

	if scoring {
		x = math.Max(d.value.above(v), d.value.below(v)) / d.cfg.ValueMargin
	}
	d.value.add(v)

	d.level.push(v)
	if d.level.len() == d.cfg.LevelWindow {
		m := d.level.median()
		if scoring {
			x = math.Max(x, math.Max(d.levelRange.above(m), d.levelRange.below(m))/d.cfg.LevelMargin)
		}
		d.levelRange.add(m)
	}

	d.spread.push(v)
	if d.spread.len() == d.cfg.SpreadWindow {
		iqr := d.spread.quantile(0.75) - d.spread.quantile(0.25)
		if scoring {
			x = math.Max(x, d.spreadRange.above(iqr)/d.cfg.SpreadMargin)
		}
		d.spreadRange.add(iqr)
	}

	if d.base.len() >= d.cfg.ShiftBaseline/2 {
		z := math.Max(-d.cfg.ShiftClamp, math.Min(d.cfg.ShiftClamp, d.robustZ(v)))
		d.cusumUp = math.Max(0, d.cusumUp+z-d.cfg.ShiftSlack)
		d.cusumDown = math.Max(0, d.cusumDown-z-d.cfg.ShiftSlack)
	}
	d.base.push(v)
	c := math.Max(d.cusumUp, d.cusumDown)
	if scoring {
		x = math.Max(x, d.cusumRange.above(c)/d.cfg.ShiftMargin)
	}
	d.cusumRange.add(c)

	if !scoring {
		return 0
	}
	return x
}

// robustZ standardises v against the CUSUM baseline: median, and the
// larger of 1.4826*MAD and the 10-90% quantile spread over 2.563 (both
// estimate a standard deviation under normality; the second stays positive
// when more than half the baseline is one value).
func (d *Records) robustZ(v float64) float64 {
	m := d.base.median()
	s := math.Max(1.4826*d.base.mad(m), (d.base.quantile(0.9)-d.base.quantile(0.1))/2.563)
	s = math.Max(s, 1e-9*math.Max(1, math.Abs(m)))
	return (v - m) / s
}
