package nab

import (
	"fmt"

	"github.com/hoist/hoist/internal/anomaly"
)

// Candidate is one detector configuration a parameter choice picks from.
type Candidate struct {
	Name string
	New  func() anomaly.Detector
}

// EnsembleGrid is the parameter choice that CrossValidate replays on each
// half, as it was made on the whole corpus: the ensemble without the
// coarse KNN (CoarseBlock 0) and its main parameters set one at a time to a
// lower and a higher value (the neighbourhood compared on the whole corpus
// in earlier work, 17 candidates), then the 31 coarse-KNN variants tried
// when it was added (block, context, history, calibration and weight; the
// default is one of them), then the 17 calibrations of the fine KNN tried
// when its decaying peak was added (the default, half-life 8000 at weight
// 1, is the coarse variant of the default's), then the 4 second
// calibrations of the coarse KNN (the default's among them). The earlier
// rounds were tried around the default of their time; they are replayed
// around today's. 69 candidates.
func EnsembleGrid() []Candidate {
	type change struct {
		name string
		set  func(*anomaly.EnsembleConfig)
	}
	noCoarse := func(c *anomaly.EnsembleConfig) { c.CoarseBlock = 0 }
	changes := []change{{"no_coarse", noCoarse}}
	add := func(param string, values []float64, set func(*anomaly.EnsembleConfig, float64)) {
		for _, v := range values {
			changes = append(changes, change{fmt.Sprintf("no_coarse,%s=%g", param, v), func(c *anomaly.EnsembleConfig) { noCoarse(c); set(c, v) }})
		}
	}
	add("knn_weight", []float64{0.3, 0.7}, func(c *anomaly.EnsembleConfig, v float64) { c.KNNWeight = v })
	add("refractory", []float64{15, 60}, func(c *anomaly.EnsembleConfig, v float64) { c.Refractory = int(v) })
	add("value_margin", []float64{0.0025, 0.01}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.ValueMargin = v })
	add("level_margin", []float64{0.025, 0.1}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.LevelMargin = v })
	add("level_window", []float64{5, 20}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.LevelWindow = int(v) })
	add("spread_margin", []float64{0.025, 0.1}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.SpreadMargin = v })
	add("shift_margin", []float64{0.1, 0.3}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.ShiftMargin = v })
	add("warmup", []float64{75, 300}, func(c *anomaly.EnsembleConfig, v float64) { c.Records.Warmup = int(v) })
	type coarse struct{ block, dim, history, calib int }
	var coarseTried []coarse
	for _, b := range []int{6, 12} { // first round: weights 0.25, 0.4, 0.6
		for _, d := range []int{16, 32} {
			coarseTried = append(coarseTried, coarse{b, d, 300, 100})
		}
	}
	addCoarse := func(k coarse, weights ...float64) {
		for _, w := range weights {
			changes = append(changes, change{
				fmt.Sprintf("coarse_block=%d,dim=%d,history=%d,calib=%d,weight=%g", k.block, k.dim, k.history, k.calib, w),
				func(c *anomaly.EnsembleConfig) {
					c.CoarseBlock, c.CoarseWeight = k.block, w
					c.Coarse = anomaly.KNNConfig{Dim: k.dim, History: k.history, K: 3, Calib: k.calib}
				}})
		}
	}
	for _, k := range coarseTried {
		addCoarse(k, 0.25, 0.4, 0.6)
	}
	// Second round: weights 0.4, 0.6, 0.8 (0.8 only where the first
	// round had the configuration already).
	addCoarse(coarse{12, 16, 300, 100}, 0.8)
	for _, k := range []coarse{{24, 16, 300, 100}, {12, 24, 300, 100}, {12, 16, 150, 100}, {12, 16, 300, 50}, {12, 16, 300, 250}, {8, 24, 300, 100}} {
		addCoarse(k, 0.4, 0.6, 0.8)
	}
	// Third round, the fine KNN's calibration (with the coarse KNN as in
	// the default): the largest of the last 500 non-conformities (the
	// former default) or a decaying peak of them, at several half-lives
	// (1e9: practically never decaying) and weights.
	calib := func(halfLife, weight float64) {
		changes = append(changes, change{
			fmt.Sprintf("knn_peak_half_life=%g,knn_weight=%g", halfLife, weight),
			func(c *anomaly.EnsembleConfig) { c.KNN.PeakHalfLife, c.KNNWeight = halfLife, weight }})
	}
	calib(0, 0.5)
	for _, h := range []float64{500, 2000, 8000, 1e9} {
		calib(h, 0.5)
	}
	calib(8000, 0.75)
	calib(1e9, 0.75)
	calib(1e9, 1)
	for _, h := range []float64{2000, 4000, 16000} {
		calib(h, 1)
	}
	for _, h := range []float64{2000, 4000, 8000, 16000} {
		calib(h, 1.25)
	}
	for _, w := range []float64{0.6, 1} { // the coarse KNN's calibration too
		changes = append(changes, change{
			fmt.Sprintf("coarse_peak_half_life=%g,coarse_weight=%g", 8000.0/12, w),
			func(c *anomaly.EnsembleConfig) { c.Coarse.PeakHalfLife, c.CoarseWeight = 8000.0/12, w }})
	}
	// Fourth round, the coarse KNN's second calibration against a peak
	// (half-life in blocks: 8000 or 4000 points; weight 0.6 or 1).
	for _, h := range []float64{8000.0 / 12, 4000.0 / 12} {
		for _, w := range []float64{0.6, 1} {
			changes = append(changes, change{
				fmt.Sprintf("coarse_peak2_half_life=%.4g,weight=%g", h, w),
				func(c *anomaly.EnsembleConfig) { c.CoarsePeakHalfLife, c.CoarsePeakWeight = h, w }})
		}
	}
	out := make([]Candidate, 0, len(changes))
	for _, ch := range changes {
		cfg := anomaly.DefaultEnsembleConfig()
		ch.set(&cfg)
		out = append(out, Candidate{Name: ch.name, New: func() anomaly.Detector { return anomaly.NewEnsemble(cfg) }})
	}
	return out
}

// Halves splits the corpus into two: files at even and at odd positions of
// the name order (so each half gets about half of every category).
func (c *Corpus) Halves() [2]*Corpus {
	var h [2]*Corpus
	for k := range h {
		h[k] = &Corpus{Profiles: c.Profiles}
	}
	for i := range c.Files {
		h[i%2].Files = append(h[i%2].Files, c.Files[i])
	}
	return h
}

// Transfer is one direction of a split-half check: the candidate and
// thresholds chosen on one half (best standard score there), scored on
// that half (in-sample) and, unchanged, on the other (out-of-sample).
type Transfer struct {
	ChosenOn   string // "even" or "odd": the half the choice was made on
	Candidate  string
	InSample   []ProfileScore // on ChosenOn, at its best thresholds
	OutSample  []ProfileScore // on the other half, at ChosenOn's thresholds
	AtAlarm    []ProfileScore // on the other half, at AlarmLevel (no threshold chosen)
	OtherBest  []ProfileScore // on the other half, with its own threshold search
	Candidates int
}

// AlarmLevel is the score at which every hoist detector calibrates its own
// alarm (see package anomaly): a threshold chosen without data.
const AlarmLevel = 0.5

// CrossValidate replays a parameter choice on each half of the corpus: for
// each half it picks the candidate with the best standard score there,
// with that half's thresholds, and scores the other half with that
// candidate at those thresholds, at AlarmLevel and with its own threshold
// search. Each candidate runs once over the whole
// corpus.
func (c *Corpus) CrossValidate(cands []Candidate) ([2]Transfer, error) {
	var out [2]Transfer
	if len(cands) == 0 {
		return out, fmt.Errorf("nab: no candidates")
	}
	halves := c.Halves()
	split := func(scores [][]float64) [2][][]float64 {
		var s [2][][]float64
		for i := range scores {
			s[i%2] = append(s[i%2], scores[i])
		}
		return s
	}
	type eval struct {
		scores [2][][]float64
		best   [2][]ProfileScore
	}
	evals := make([]eval, len(cands))
	for k, cand := range cands {
		scores, err := c.Detect(cand.New)
		if err != nil {
			return out, fmt.Errorf("nab: candidate %s: %w", cand.Name, err)
		}
		evals[k].scores = split(scores)
		for h := range halves {
			if evals[k].best[h], err = halves[h].Sweep(evals[k].scores[h]); err != nil {
				return out, fmt.Errorf("nab: candidate %s: %w", cand.Name, err)
			}
		}
	}
	names := [2]string{"even", "odd"}
	for h := range halves {
		best := 0
		for k := range evals {
			if evals[k].best[h][0].Score > evals[best].best[h][0].Score {
				best = k
			}
		}
		thr := make(Thresholds, len(c.Profiles))
		for _, ps := range evals[best].best[h] {
			thr[ps.Profile] = ps.Threshold
		}
		other := 1 - h
		at, err := halves[other].ScoreAt(evals[best].scores[other], thr)
		if err != nil {
			return out, err
		}
		alarm, err := halves[other].ScoreAt(evals[best].scores[other],
			Thresholds{"standard": AlarmLevel, "reward_low_FP": AlarmLevel, "reward_low_FN": AlarmLevel})
		if err != nil {
			return out, err
		}
		out[h] = Transfer{
			AtAlarm:    alarm,
			ChosenOn:   names[h],
			Candidate:  cands[best].Name,
			InSample:   evals[best].best[h],
			OutSample:  at,
			OtherBest:  evals[best].best[other],
			Candidates: len(cands),
		}
	}
	return out, nil
}
