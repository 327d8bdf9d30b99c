package anomaly

import "math"

// RobustZConfig parameterises RobustZ.
type RobustZConfig struct {
	Window int     // values in the reference window (also the warm-up)
	ZOn    float64 // robust z at which an episode starts (score 0.5)
	ZOff   float64 // robust z below which the episode ends (re-arms)
	Floor  float64 // the scale is at least Floor times the window's range
}

// DefaultRobustZConfig is the configuration registered as "robustz".
func DefaultRobustZConfig() RobustZConfig {
	return RobustZConfig{Window: 300, ZOn: 8, ZOff: 4, Floor: 0.1}
}

// RobustZ is the baseline: the robust z-score of each value against the
// median and scale of the previous Window values, with hysteresis. Median
// and MAD (median absolute deviation, times 1.4826 to estimate a standard
// deviation under normality) are the classic outlier-resistant location
// and scale (Hampel 1974; Rousseeuw and Croux 1993): a burst of anomalies
// does not hide itself by inflating the scale as a mean/stddev window
// would. Many metrics sit on one value most of the time (MAD 0), so the
// scale is floored at Floor times the window's range.
//
// The score is z/(z+ZOn), 0.5 at z = ZOn. An episode starts when z >= ZOn;
// its first point keeps its score and the following points score 0 until z
// falls below ZOff (hysteresis), so one episode raises one alert.
//
// Memory: 2*Window floats. Time: O(Window) per value. No allocation.
type RobustZ struct {
	cfg    RobustZConfig
	win    sortedWindow
	firing bool
}

// NewRobustZ returns a RobustZ; Window is raised to at least 8.
func NewRobustZ(cfg RobustZConfig) *RobustZ {
	cfg.Window = max(cfg.Window, 8)
	return &RobustZ{cfg: cfg, win: newSortedWindow(cfg.Window)}
}

// Reset implements Detector.
func (d *RobustZ) Reset() {
	d.win.reset()
	d.firing = false
}

// Score implements Detector.
func (d *RobustZ) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if d.win.len() < d.cfg.Window {
		d.win.push(v)
		return 0
	}
	z := d.z(v)
	d.win.push(v)
	s := z / (z + d.cfg.ZOn)
	switch {
	case d.firing && z < d.cfg.ZOff:
		d.firing = false
	case d.firing:
		return 0
	case z >= d.cfg.ZOn:
		d.firing = true
	}
	return s
}

// z is |v - median| / scale over the window.
func (d *RobustZ) z(v float64) float64 {
	m := d.win.median()
	lo, hi := d.win.sorted[0], d.win.sorted[d.win.len()-1]
	scale := math.Max(1.4826*d.win.mad(m), d.cfg.Floor*(hi-lo))
	if scale == 0 {
		// A constant window: any change is infinitely surprising; keep z
		// finite so the score stays below 1 but near it.
		scale = 1e-9 * math.Max(1, math.Abs(m))
	}
	return math.Abs(v-m) / scale
}
