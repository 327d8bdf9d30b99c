package nab

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	standard = DefaultProfiles[0]
	lowFP    = DefaultProfiles[1]
	lowFN    = DefaultProfiles[2]
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSigma(t *testing.T) {
	tests := []struct{ y, want float64 }{
		{-1, 2/(1+math.Exp(-5)) - 1}, // 0.98661
		{0, 0},
		{1, 2/(1+math.Exp(5)) - 1}, // -0.98661
		{-0.5, 2/(1+math.Exp(-2.5)) - 1},
	}
	for _, tc := range tests {
		if got := sigma(tc.y); !near(got, tc.want) {
			t.Errorf("sigma(%v) = %v, want %v", tc.y, got, tc.want)
		}
	}
}

// tiny is a 100-row file with windows on rows 40-49 and 70-79 and a
// 10-row probationary period.
func tiny() *File {
	return &File{
		Name:      "tiny.csv",
		Values:    make([]float64, 100),
		Windows:   []Window{{Start: 40, End: 49}, {Start: 70, End: 79}},
		Probation: 10,
	}
}

func detections(n int, rows ...int) []bool {
	d := make([]bool, n)
	for _, r := range rows {
		d[r] = true
	}
	return d
}

func TestScoreDetections(t *testing.T) {
	s1 := sigma(-1)
	fpAfter := func(rows int) float64 { return sigma(float64(rows) / 9) } // window span 49-40 = 9
	tests := []struct {
		name    string
		profile Profile
		rows    []int
		want    float64
	}{
		{"null: two misses", standard, nil, -2},
		{"null, low FN profile", lowFN, nil, -4},
		{"hit at window start scores A_TP", standard, []int{40}, 1 - 1},
		// NAB's code: y = -(End - i + 1)/(End - Start + 1), here -(49-i+1)/10.
		{"hit at window end scores sigma(-1/W)", standard, []int{49}, sigma(-0.1)/s1 - 1},
		{"hit mid-window is sigmoid weighted", standard, []int{45}, sigma(-0.5)/s1 - 1},
		{"only the first hit in a window counts", standard, []int{40, 41, 49}, 1 - 1},
		{"order of rows is irrelevant: the earliest counts", standard, []int{49, 43}, sigma(-0.7)/s1 - 1},
		{"both windows hit early", standard, []int{40, 70}, 2},
		{"FP right after a window is cheap", standard, []int{40, 70, 50}, 2 + 0.11*fpAfter(1)},
		{"FP far after a window costs ~A_FP", standard, []int{40, 70, 69}, 2 + 0.11*fpAfter(20)},
		{"FP before any window costs A_FP", standard, []int{40, 70, 20}, 2 - 0.11},
		{"low FP profile doubles the FP cost", lowFP, []int{40, 70, 20}, 2 - 0.22},
		{"FP after the second window", standard, []int{40, 70, 99}, 2 + 0.11*fpAfter(20)},
		{"detections in the probationary period are ignored", standard, []int{5, 40, 70}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tiny()
			if got := ScoreDetections(f, detections(100, tc.rows...), tc.profile); !near(got, tc.want) {
				t.Fatalf("score %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSigmaClampsLikeNAB(t *testing.T) {
	if got := sigma(3.0001); got != -1 {
		t.Errorf("sigma(3.0001) = %v, want -1", got)
	}
	if got := sigma(3); got == -1 {
		t.Errorf("sigma(3) = -1, want the sigmoid's value")
	}
	// 28 rows past a window of span 9: y = 3.11, exactly -A_FP.
	f := &File{Values: make([]float64, 60), Windows: []Window{{Start: 10, End: 19}}, Probation: 5}
	if got := ScoreDetections(f, detections(60, 10, 47), standard); got != 1-0.11 {
		t.Errorf("score %v, want %v", got, 1-0.11)
	}
}

// A window entirely inside the probationary period is neither scored nor
// charged (NAB only knows windows with a scored row); the perfect score
// still counts it, as NAB's normalisation counts every labelled window.
func TestWindowInProbation(t *testing.T) {
	f := tiny()
	f.Windows = append([]Window{{Start: 2, End: 5}}, f.Windows...)
	if got := ScoreDetections(f, nil, standard); got != -2 {
		t.Fatalf("null scores %v, want -2", got)
	}
	c := corpusOf(f)
	if got := c.perfectScore(standard); got != 3 {
		t.Fatalf("perfect %v, want 3", got)
	}
}

func TestEarlierIsBetter(t *testing.T) {
	f := tiny()
	prevTP, prevFP := math.Inf(1), 0.0
	for r := 40; r <= 49; r++ {
		s := ScoreDetections(f, detections(100, r, 70), standard)
		if s >= prevTP {
			t.Fatalf("TP at row %d scores %v, not below the earlier row's %v", r, s, prevTP)
		}
		prevTP = s
	}
	for r := 50; r < 70; r++ {
		s := ScoreDetections(f, detections(100, 40, 70, r), standard) - 2
		if s >= prevFP || s < -0.11 {
			t.Fatalf("FP at row %d costs %v, want below %v and above -0.11", r, s, prevFP)
		}
		prevFP = s
	}
}

// corpusOf builds a corpus from files with the default profiles.
func corpusOf(files ...*File) *Corpus {
	c := &Corpus{Profiles: DefaultProfiles}
	for _, f := range files {
		c.Files = append(c.Files, *f)
	}
	return c
}

func TestNullAndPerfectNormalise(t *testing.T) {
	c := corpusOf(tiny(), &File{Name: "quiet.csv", Values: make([]float64, 50), Probation: 7})
	for _, p := range c.Profiles {
		if got := c.Normalize(c.nullScore(p), p); got != 0 {
			t.Errorf("%s: null normalises to %v", p.Name, got)
		}
		if got := c.Normalize(c.perfectScore(p), p); !near(got, 100) {
			t.Errorf("%s: perfect normalises to %v", p.Name, got)
		}
	}
}

// bruteSweep scores every candidate threshold with ScoreDetections.
func bruteSweep(c *Corpus, scores [][]float64, p Profile) (float64, float64) {
	cands := []float64{math.Inf(1)}
	for _, s := range scores {
		cands = append(cands, s...)
	}
	slices.Sort(cands)
	slices.Reverse(cands)
	cands = slices.Compact(cands)
	best, bestThr := math.Inf(-1), 0.0
	for _, thr := range cands {
		raw := 0.0
		for i := range c.Files {
			det := make([]bool, len(scores[i]))
			for j, s := range scores[i] {
				det[j] = s >= thr
			}
			raw += ScoreDetections(&c.Files[i], det, p)
		}
		if raw > best+1e-9 {
			best, bestThr = raw, thr
		}
	}
	return c.Normalize(best, p), bestThr
}

func TestSweepMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	second := &File{Name: "b.csv", Values: make([]float64, 60), Windows: []Window{{Start: 20, End: 25}}, Probation: 9}
	c := corpusOf(tiny(), second)
	for trial := range 20 {
		scores := make([][]float64, len(c.Files))
		for i, f := range c.Files {
			scores[i] = make([]float64, len(f.Values))
			for j := range scores[i] {
				// Coarse values so that ties across rows and files occur.
				scores[i][j] = float64(rng.IntN(30)) / 30
			}
		}
		got, err := c.Sweep(scores)
		if err != nil {
			t.Fatal(err)
		}
		for k, p := range c.Profiles {
			want, thr := bruteSweep(c, scores, p)
			if !near(got[k].Score, want) || got[k].Threshold != thr {
				t.Fatalf("trial %d %s: sweep %v at %v, brute force %v at %v", trial, p.Name, got[k].Score, got[k].Threshold, want, thr)
			}
		}
	}
}

func TestSweepRejectsBadInput(t *testing.T) {
	c := corpusOf(tiny())
	if _, err := c.Sweep(nil); err == nil {
		t.Error("no score series: want an error")
	}
	if _, err := c.Sweep([][]float64{make([]float64, 3)}); err == nil {
		t.Error("short score series: want an error")
	}
	bad := make([]float64, 100)
	bad[50] = math.NaN()
	if _, err := c.Sweep([][]float64{bad}); err == nil {
		t.Error("NaN score: want an error")
	}
}

func TestProbationPeriod(t *testing.T) {
	tests := []struct{ n, want int }{{0, 0}, {100, 15}, {1127, 169}, {4032, 604}, {5000, 750}, {22695, 750}}
	for _, tc := range tests {
		if got := ProbationPeriod(tc.n); got != tc.want {
			t.Errorf("ProbationPeriod(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
