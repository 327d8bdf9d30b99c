package nab

import (
	"fmt"
	"testing"

	"github.com/hoist/hoist/internal/anomaly"
)

// above fires (score 1) on every value above its level, else 0.
type above struct{ level float64 }

func (a above) Score(v float64) float64 {
	if v > a.level {
		return 1
	}
	return 0
}
func (above) Reset() {}

var _ anomaly.Detector = above{}

// spiky is a file of n zeros with a spike of the given height in the middle
// of its one window and a smaller bump of 3 outside it.
func spiky(name string, height float64) File {
	f := File{Name: name, Values: make([]float64, 100), Windows: []Window{{Start: 40, End: 49}}, Probation: 10}
	f.Values[45] = height
	f.Values[80] = 3
	return f
}

func TestCrossValidate(t *testing.T) {
	c := &Corpus{Profiles: DefaultProfiles, Files: []File{spiky("a", 10), spiky("b", 10), spiky("c", 10), spiky("d", 10)}}
	cands := []Candidate{
		{"low", func() anomaly.Detector { return above{1} }},  // also fires on the bump: one FP per file
		{"high", func() anomaly.Detector { return above{5} }}, // only the spike
		{"never", func() anomaly.Detector { return above{100} }},
	}
	tr, err := c.CrossValidate(cands)
	if err != nil {
		t.Fatal(err)
	}
	want := 100 * (ScoreDetections(&c.Files[0], detections(100, 45), standard) + 1) / 2 // per file: null -1, perfect 1
	for h, got := range tr {
		if got.Candidate != "high" || got.Candidates != 3 {
			t.Fatalf("half %d: chose %s of %d, want high of 3", h, got.Candidate, got.Candidates)
		}
		if got.ChosenOn != [2]string{"even", "odd"}[h] {
			t.Errorf("half %d: chosen on %s", h, got.ChosenOn)
		}
		for _, ps := range [][]ProfileScore{got.InSample, got.OutSample, got.AtAlarm, got.OtherBest} {
			if !near(ps[0].Score, want) {
				t.Errorf("half %d: standard %v, want %v", h, ps[0].Score, want)
			}
		}
	}
	if _, err := c.CrossValidate(nil); err == nil {
		t.Error("no candidates: want an error")
	}
}

// The out-of-sample score uses the thresholds chosen in-sample: a detector
// whose scale differs between the halves pays for it there.
func TestCrossValidateKeepsThresholds(t *testing.T) {
	c := &Corpus{Profiles: DefaultProfiles, Files: []File{spiky("a", 10), spiky("b", 2), spiky("c", 10), spiky("d", 2)}}
	// Scores the value itself, over 20: the odd files' spike (2) is below
	// their bump (3), so the odd half's best is never to fire, while the
	// even half's threshold (0.5) makes the odd half miss everything.
	scale := Candidate{"scale", func() anomaly.Detector { return scaled{} }}
	tr, err := c.CrossValidate([]Candidate{scale})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr[0].OutSample[0].Score; got != 0 {
		t.Errorf("even thresholds on the odd half: %v, want 0 (no detection)", got)
	}
	if got := tr[0].InSample[0].Score; got <= 0 {
		t.Errorf("even half in-sample: %v, want > 0", got)
	}
}

type scaled struct{}

func (scaled) Score(v float64) float64 { return v / 20 }
func (scaled) Reset()                  {}

func TestEnsembleGrid(t *testing.T) {
	g := EnsembleGrid()
	if len(g) != 69 || g[0].Name != "no_coarse" {
		t.Fatalf("%d candidates, first %q", len(g), g[0].Name)
	}
	seen := map[string]bool{}
	for _, cand := range g {
		if seen[cand.Name] {
			t.Errorf("candidate %s twice", cand.Name)
		}
		seen[cand.Name] = true
		if cand.New() == nil {
			t.Errorf("candidate %s: nil detector", cand.Name)
		}
	}
}

// The default ensemble is one of the grid's candidates: the split replays
// the choice that produced it.
func TestEnsembleGridHoldsTheDefault(t *testing.T) {
	def := anomaly.DefaultEnsembleConfig()
	want := fmt.Sprintf("coarse_block=%d,dim=%d,history=%d,calib=%d,weight=%g",
		def.CoarseBlock, def.Coarse.Dim, def.Coarse.History, def.Coarse.Calib, def.CoarseWeight)
	for _, cand := range EnsembleGrid() {
		if cand.Name == want {
			return
		}
	}
	t.Fatalf("no candidate %s", want)
}
