package anomaly

import "math"

// EnsembleConfig parameterises Ensemble.
type EnsembleConfig struct {
	Records RecordsConfig
	KNN     KNNConfig
	// KNNWeight scales the KNN member's evidence: with 1 (the default,
	// whose KNN calibrates against a decaying peak) its context must be
	// stranger than the peak; with 0.5, twice as strange.
	KNNWeight float64
	// Coarse is a second KNN over block means of CoarseBlock values each:
	// its contexts span CoarseBlock*Coarse.Dim values (192 by default, 16
	// hours of NAB's 5-minute data), so it sees a day's pattern change
	// (a missing peak, a flat stretch, a lower plateau) that the 16-value
	// contexts are too short for. It speaks once per block, with weight
	// CoarseWeight; CoarseBlock 0 leaves it out.
	Coarse       KNNConfig
	CoarseBlock  int
	CoarseWeight float64
	// CoarsePeakHalfLife and CoarsePeakWeight add a second calibration of
	// the coarse KNN's non-conformity, against a peak decaying with that
	// half-life in blocks (as KNNConfig.PeakHalfLife), weighted
	// CoarsePeakWeight: the window (Coarse.Calib blocks) catches a changed
	// daily pattern early in a short series, the long peak one in a long
	// series that the window has got used to. Weight 0 leaves it out.
	CoarsePeakHalfLife float64
	CoarsePeakWeight   float64
	Refractory         int     // points silenced after an alarm
	HalfLife           float64 // half-life of the suppression ceiling, in points
}

// DefaultEnsembleConfig is the configuration registered as "ensemble" (and
// "default"). Records, KNN, Refractory and HalfLife were chosen on the
// whole NAB corpus; so was the coarse KNN (block 12, its Calib 50, weight
// 0.6, the best of 33 variants), and then the fine KNN's calibration
// against a peak with a half-life of 8000 points at weight 1 (the middle
// of the half-lives 4000 to 16000, which scored alike; it replaced the
// largest of the last 500 at weight 0.5), and last the coarse KNN's second
// calibration, against a peak with the same half-life in points (8000/12
// blocks) at weight 1 (of four variants). docs/anomaly.md gives the scores
// in-sample and with the choice replayed on half the corpus and scored on
// the other half (hoist nab --split).
func DefaultEnsembleConfig() EnsembleConfig {
	knn := DefaultKNNConfig()
	knn.PeakHalfLife = 8000
	return EnsembleConfig{
		Records:            DefaultRecordsConfig(),
		KNN:                knn,
		KNNWeight:          1,
		Coarse:             KNNConfig{Dim: 16, History: 300, K: 3, Calib: 50},
		CoarseBlock:        12,
		CoarseWeight:       0.6,
		CoarsePeakHalfLife: 8000.0 / 12,
		CoarsePeakWeight:   1,
		Refractory:         30,
		HalfLife:           30,
	}
}

// Ensemble combines Records (which sees values, levels, spread and
// sustained shifts) with two KNNs, which see the shape of the recent past:
// one over the last 16 values, one over block means spanning 192 values
// (e.g. a missing daily peak that breaks no record), its non-conformity
// calibrated twice (a recent window and a long decaying peak). The members express
// their evidence on the same scale (1 = their own alarm level), so the
// ensemble takes the largest of Records', KNNWeight times KNN's,
// CoarseWeight and CoarsePeakWeight times the coarse KNN's, scores it x/(1+x) and suppresses
// repeated alarms itself (the members' own suppression is bypassed). The
// members' warm-ups apply (the coarse KNN's is about 720 values).
type Ensemble struct {
	cfg    EnsembleConfig
	rec    *Records
	knn    *KNN
	coarse *KNN
	cpeak  peakCalib // the coarse KNN's second calibration
	sum    float64   // of the current block's values
	n      int       // values in the current block
	sup    suppressor
	refr   int
}

// NewEnsemble returns an Ensemble.
func NewEnsemble(cfg EnsembleConfig) *Ensemble {
	return &Ensemble{
		cfg:    cfg,
		rec:    NewRecords(cfg.Records),
		knn:    NewKNN(cfg.KNN),
		coarse: NewKNN(cfg.Coarse),
		cpeak:  newPeakCalib(math.Max(cfg.CoarsePeakHalfLife, 1), max(cfg.Coarse.Calib, 2)/2),
		sup:    newSuppressor(cfg.HalfLife),
	}
}

// Reset implements Detector.
func (e *Ensemble) Reset() {
	e.rec.Reset()
	e.knn.Reset()
	e.coarse.Reset()
	e.cpeak.reset()
	e.sum, e.n = 0, 0
	e.sup.reset()
	e.refr = 0
}

// Score implements Detector.
func (e *Ensemble) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	x := math.Max(e.rec.evidence(v), e.cfg.KNNWeight*e.knn.evidence(v))
	if e.cfg.CoarseBlock > 0 {
		e.sum += v
		e.n++
		if e.n == e.cfg.CoarseBlock {
			if ncm, ok := e.coarse.update(e.sum / float64(e.n)); ok {
				x = math.Max(x, e.cfg.CoarseWeight*e.coarse.calibrate(ncm))
				if e.cfg.CoarsePeakWeight > 0 {
					x = math.Max(x, e.cfg.CoarsePeakWeight*e.cpeak.evidence(ncm))
				}
			}
			e.sum, e.n = 0, 0
		}
	}
	return suppress(&e.sup, &e.refr, e.cfg.Refractory, evidence(x))
}
