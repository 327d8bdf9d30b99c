package anomaly

import "math"

// EnsembleConfig parameterises Ensemble.
type EnsembleConfig struct {
	Records RecordsConfig
	KNN     KNNConfig
	// KNNWeight scales the KNN member's evidence: with 0.5 its context
	// must be twice as strange as the strangest recent one to raise an
	// alarm on its own.
	KNNWeight  float64
	Refractory int     // points silenced after an alarm
	HalfLife   float64 // half-life of the suppression ceiling, in points
}

// DefaultEnsembleConfig is the configuration registered as "ensemble" (and
// "default").
func DefaultEnsembleConfig() EnsembleConfig {
	return EnsembleConfig{
		Records:    DefaultRecordsConfig(),
		KNN:        DefaultKNNConfig(),
		KNNWeight:  0.5,
		Refractory: 30,
		HalfLife:   30,
	}
}

// Ensemble combines Records (which sees values, levels, spread and
// sustained shifts) with KNN (which sees the shape of the recent
// subsequence, e.g. a missing daily peak that breaks no record). Both
// members express their evidence on the same scale (1 = their own alarm
// level), so the ensemble takes the larger of Records' and KNNWeight times
// KNN's, scores it x/(1+x) and suppresses repeated alarms itself (the
// members' own suppression is bypassed). The members' warm-ups apply.
type Ensemble struct {
	cfg  EnsembleConfig
	rec  *Records
	knn  *KNN
	sup  suppressor
	refr int
}

// NewEnsemble returns an Ensemble.
func NewEnsemble(cfg EnsembleConfig) *Ensemble {
	return &Ensemble{
		cfg: cfg,
		rec: NewRecords(cfg.Records),
		knn: NewKNN(cfg.KNN),
		sup: newSuppressor(cfg.HalfLife),
	}
}

// Reset implements Detector.
func (e *Ensemble) Reset() {
	e.rec.Reset()
	e.knn.Reset()
	e.sup.reset()
	e.refr = 0
}

// Score implements Detector.
func (e *Ensemble) Score(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	x := math.Max(e.rec.evidence(v), e.cfg.KNNWeight*e.knn.evidence(v))
	return suppress(&e.sup, &e.refr, e.cfg.Refractory, evidence(x))
}
