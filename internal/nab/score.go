package nab

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// sigma is NAB's scaled sigmoid, 2/(1+exp(5y)) - 1: about +0.987 at y = -1
// (the left edge of a window), 0 at y = 0 and towards -1 as y grows past
// the window. Like NAB's code (nab/sweeper.py, scaledSigmoid) it is exactly
// -1 beyond y = 3.
func sigma(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// rows is a window's width in rows (both ends included).
func (w Window) rows() float64 { return float64(w.End - w.Start + 1) }

// tpWeight is the unweighted reward of a first detection at row i inside w:
// sigma(y)/sigma(-1) with y = -(End - i + 1)/(End - Start + 1), as NAB's code
// computes it (nab/sweeper.py, calcSweepScore): 1 at the window's first row,
// sigma(-1/W)/sigma(-1) > 0 at its last (W its rows). The paper's prose, y
// from -1 to 0, scores published detectors about 0.1 point too low.
func (w Window) tpWeight(i int) float64 {
	y := -float64(w.End-i+1) / w.rows()
	return sigma(y) / sigma(-1)
}

// fpWeight is the unweighted (negative) value of a detection at row i,
// outside every window: sigma(y) with y = (i - End)/(End - Start) of the
// previous window (NAB's code divides by the width less one), or -1 when no
// window came before i. A one-row window counts as two rows wide here (NAB
// would divide by zero).
func fpWeight(prev *Window, i int) float64 {
	if prev == nil {
		return -1
	}
	return sigma(float64(i-prev.End) / math.Max(float64(prev.End-prev.Start), 1))
}

// rowKind classifies a scored row: inside window w (w >= 0) with TP
// weight, or outside all windows (w == -1) with FP weight.
type rowKind struct {
	window int // index into File.Windows, -1 outside
	weight float64
}

// classify returns the kind of row i of f (i must be >= f.Probation).
func (f *File) classify(i int) rowKind {
	var prev *Window
	for k := range f.Windows {
		w := &f.Windows[k]
		if i < w.Start {
			break
		}
		if i <= w.End {
			return rowKind{window: k, weight: w.tpWeight(i)}
		}
		prev = w
	}
	return rowKind{window: -1, weight: fpWeight(prev, i)}
}

// scored reports whether window k of f is scored: NAB counts a window
// (and charges for missing it) only when one of its rows is past the
// probationary period.
func (f *File) scored(k int) bool { return f.Windows[k].End >= f.Probation }

// ScoreDetections is the raw NAB score of one file given the rows where a
// detector fired (detected[i] true) under profile p. Detections in the
// probationary period are ignored; only the first detection in a window
// counts; a scored window without detection costs p.FN.
func ScoreDetections(f *File, detected []bool, p Profile) float64 {
	first := make([]int, len(f.Windows)) // row of the first detection, -1 none
	for k := range first {
		first[k] = -1
	}
	s := 0.0
	for i := f.Probation; i < len(detected) && i < len(f.Values); i++ {
		if !detected[i] {
			continue
		}
		k := f.classify(i)
		if k.window < 0 {
			s += p.FP * k.weight
			continue
		}
		if first[k.window] < 0 {
			first[k.window] = i
			s += p.TP * k.weight
		}
	}
	for k, r := range first {
		if r < 0 && f.scored(k) {
			s -= p.FN
		}
	}
	return s
}

// nullScore is the raw score of a detector that never fires.
func (c *Corpus) nullScore(p Profile) float64 {
	s := 0.0
	for i := range c.Files {
		s += ScoreDetections(&c.Files[i], nil, p)
	}
	return s
}

// perfectScore is NAB's perfect raw score: A_TP for every window of the
// labels (nab/runner.py, normalize), what a detector firing on each
// window's first row scores.
func (c *Corpus) perfectScore(p Profile) float64 {
	return p.TP * float64(c.Windows())
}

// Normalize maps a raw corpus score to NAB's scale: 0 for the null
// detector, 100 for the perfect one.
func (c *Corpus) Normalize(raw float64, p Profile) float64 {
	null, perfect := c.nullScore(p), c.perfectScore(p)
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}

// ProfileScore is a detector's best normalised score under one profile and
// the corpus-wide threshold that achieved it (a row is a detection when its
// score >= Threshold; +Inf means "never fire" was best).
type ProfileScore struct {
	Profile   string
	Score     float64
	Threshold float64
}

// sweepRow is one scored row of the corpus in the threshold sweep.
type sweepRow struct {
	score  float64
	window int32 // corpus-wide window index, -1 outside windows
	row    int32
	weight float64
}

// Sweep chooses, for each profile, the single corpus-wide threshold that
// maximises the normalised score of the anomaly scores (scores[i] belongs to
// c.Files[i], one value per row). Every distinct score is a candidate, so
// the optimum is exact. Results follow c.Profiles' order.
func (c *Corpus) Sweep(scores [][]float64) ([]ProfileScore, error) {
	if len(scores) != len(c.Files) {
		return nil, fmt.Errorf("nab: %d score series for %d files", len(scores), len(c.Files))
	}
	var rows []sweepRow
	nWindows := 0
	for fi := range c.Files {
		f := &c.Files[fi]
		if len(scores[fi]) != len(f.Values) {
			return nil, fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(scores[fi]), len(f.Values))
		}
		for i := f.Probation; i < len(f.Values); i++ {
			s := scores[fi][i]
			if math.IsNaN(s) {
				return nil, fmt.Errorf("nab: %s: NaN score at row %d", f.Name, i)
			}
			k := f.classify(i)
			w := int32(-1)
			if k.window >= 0 {
				w = int32(nWindows + k.window)
			}
			rows = append(rows, sweepRow{score: s, window: w, row: int32(i), weight: k.weight})
		}
		nWindows += len(f.Windows)
	}
	// Highest scores first; ties broken by position so the order (and the
	// floating-point sums) never depend on anything but the input.
	slices.SortFunc(rows, func(a, b sweepRow) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.window, b.window); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})

	out := make([]ProfileScore, 0, len(c.Profiles))
	first := make([]int32, nWindows)
	firstWeight := make([]float64, nWindows)
	for _, p := range c.Profiles {
		for k := range first {
			first[k] = -1
		}
		null := c.nullScore(p)
		s, best, bestThr := null, null, math.Inf(1)
		for i := 0; i < len(rows); {
			// Lowering the threshold to rows[i].score detects the whole
			// group of rows sharing that score.
			j := i
			for ; j < len(rows) && rows[j].score == rows[i].score; j++ {
				r := &rows[j]
				switch {
				case r.window < 0:
					s += p.FP * r.weight
				case first[r.window] < 0:
					first[r.window], firstWeight[r.window] = r.row, r.weight
					s += p.TP*r.weight + p.FN
				case r.row < first[r.window]:
					s += p.TP * (r.weight - firstWeight[r.window])
					first[r.window], firstWeight[r.window] = r.row, r.weight
				}
			}
			// Ties (up to rounding of the running sum) keep the higher
			// threshold: fewer detections for the same score.
			if s > best+1e-9 {
				best, bestThr = s, rows[i].score
			}
			i = j
		}
		out = append(out, ProfileScore{Profile: p.Name, Score: c.Normalize(best, p), Threshold: bestThr})
	}
	return out, nil
}

// Windows is the number of scoring windows in the corpus.
func (c *Corpus) Windows() int {
	n := 0
	for i := range c.Files {
		n += len(c.Files[i].Windows)
	}
	return n
}

// Rows is the number of rows in the corpus.
func (c *Corpus) Rows() int {
	n := 0
	for i := range c.Files {
		n += len(c.Files[i].Values)
	}
	return n
}
