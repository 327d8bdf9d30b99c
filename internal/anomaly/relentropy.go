package anomaly

import "math"

// RelEntropyConfig parameterises RelEntropy.
type RelEntropyConfig struct {
	Window     int     // values per compared distribution
	Bins       int     // histogram bins over the observed range
	Warmup     int     // values seen before scoring
	MaxHyp     int     // hypotheses (reference distributions) kept
	Confidence float64 // chi-square confidence for "the window matches a hypothesis"
	Refractory int     // points silenced after an alarm
	HalfLife   float64 // half-life of the suppression ceiling, in points
}

// DefaultRelEntropyConfig is the configuration registered as "relentropy".
func DefaultRelEntropyConfig() RelEntropyConfig {
	return RelEntropyConfig{Window: 52, Bins: 5, Warmup: 150, MaxHyp: 16, Confidence: 0.99, Refractory: 150, HalfLife: 30}
}

// RelEntropy is the multiple-hypothesis relative-entropy detector of Wang,
// Talwar, Schwan and Ranganathan, "Online detection of utility cloud
// anomalies using metric distributions" (NOMS 2010) and Wang et al.,
// "Statistical techniques for online anomaly detection in data centers"
// (IM 2011).
//
// Values are binned over the range seen so far; the histogram P of the last
// Window values is compared with each stored hypothesis Q by relative
// entropy. If P was drawn from Q, 2*Window*KL(P||Q) is asymptotically
// chi-square with Bins-1 degrees of freedom, so P matches Q when that
// statistic is below the Confidence quantile. A window that matches no
// hypothesis is anomalous and becomes a new hypothesis (replacing the least
// used one once MaxHyp are kept).
//
// With x the statistic against the closest hypothesis over the chi-square
// limit, the score is x/(1+x): 0.5 when the window just fails to match any
// hypothesis. A value outside the range seen so far changes the bins, so
// the hypotheses are rebuilt; such a value is itself an alarm (x at least
// 2). Alarms are suppressed as in Records.
type RelEntropy struct {
	cfg      RelEntropyConfig
	win      ring
	lo, hi   float64
	hist     []float64 // counts of the current window per bin
	hyp      []float64 // MaxHyp*Bins probabilities
	hypCount []int     // matches per hypothesis; 0 = free slot
	seen     int
	limit    float64 // chi-square quantile at Confidence
	sup      suppressor
	refr     int
}

// NewRelEntropy returns a RelEntropy detector.
func NewRelEntropy(cfg RelEntropyConfig) *RelEntropy {
	cfg.Window = max(cfg.Window, 4)
	cfg.Bins = max(cfg.Bins, 2)
	cfg.MaxHyp = max(cfg.MaxHyp, 1)
	cfg.Warmup = max(cfg.Warmup, cfg.Window)
	d := &RelEntropy{
		cfg:      cfg,
		win:      newRing(cfg.Window),
		hist:     make([]float64, cfg.Bins),
		hyp:      make([]float64, cfg.MaxHyp*cfg.Bins),
		hypCount: make([]int, cfg.MaxHyp),
		limit:    chiSquareQuantile(cfg.Confidence, float64(cfg.Bins-1)),
		sup:      newSuppressor(cfg.HalfLife),
	}
	d.Reset()
	return d
}

// Reset implements Detector.
func (d *RelEntropy) Reset() {
	d.win.reset()
	d.lo, d.hi = math.Inf(1), math.Inf(-1)
	clear(d.hist)
	clear(d.hyp)
	clear(d.hypCount)
	d.seen, d.refr = 0, 0
	d.sup.reset()
}

// Score implements Detector.
func (d *RelEntropy) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return suppress(&d.sup, &d.refr, d.cfg.Refractory, evidence(d.evidence(v)))
}

// evidence updates the state with v and returns its evidence ratio x
// (unsuppressed; x >= 1 is an alarm).
func (d *RelEntropy) evidence(v float64) float64 {
	d.seen++
	widened := v < d.lo || v > d.hi
	if widened {
		d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	}
	old, evicted := d.win.push(v)
	if widened {
		d.rebin()
	} else {
		if evicted {
			d.hist[d.bin(old)]--
		}
		d.hist[d.bin(v)]++
	}
	if d.seen < d.cfg.Warmup {
		return 0
	}
	x := d.compare() / d.limit
	if widened {
		x = math.Max(x, 2)
	}
	return x
}

func (d *RelEntropy) bin(v float64) int {
	if d.hi <= d.lo {
		return 0
	}
	b := int(float64(d.cfg.Bins) * (v - d.lo) / (d.hi - d.lo))
	return min(max(b, 0), d.cfg.Bins-1)
}

// rebin recomputes the window histogram for a new range and drops the
// hypotheses, whose bins no longer mean the same thing.
func (d *RelEntropy) rebin() {
	clear(d.hist)
	for i := 0; i < d.win.n; i++ {
		d.hist[d.bin(d.win.at(i))]++
	}
	clear(d.hypCount)
}

// compare tests the window histogram against the hypotheses, updates them
// and returns the chi-square statistic against the closest one (0 for the
// very first window, which just becomes the first hypothesis).
func (d *RelEntropy) compare() float64 {
	n := float64(d.win.n)
	bins := d.cfg.Bins
	best, bestK := math.Inf(1), -1
	for k := 0; k < d.cfg.MaxHyp; k++ {
		if d.hypCount[k] == 0 {
			continue
		}
		q := d.hyp[k*bins : (k+1)*bins]
		kl := 0.0
		for b, c := range d.hist {
			if c > 0 {
				p := c / n
				kl += p * math.Log(p/q[b])
			}
		}
		if stat := 2 * n * kl; stat < best {
			best, bestK = stat, k
		}
	}
	if bestK >= 0 && best <= d.limit {
		d.hypCount[bestK]++
		return best
	}
	// No hypothesis fits: store this window as a new one, in a free slot
	// or over the least used one.
	slot := 0
	for k := 0; k < d.cfg.MaxHyp; k++ {
		if d.hypCount[k] < d.hypCount[slot] {
			slot = k
		}
	}
	q := d.hyp[slot*bins : (slot+1)*bins]
	// Smoothed, so that a bin the hypothesis never saw is improbable
	// rather than impossible.
	const eps = 0.5
	for b, c := range d.hist {
		q[b] = (c + eps) / (n + eps*float64(bins))
	}
	d.hypCount[slot] = 1
	if bestK < 0 {
		return 0
	}
	return best
}
