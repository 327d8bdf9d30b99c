package nab

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/anomaly"
	"github.com/hoist/hoist/internal/cputime"
)

// Null is the name of the detector that never fires; it scores 0 on every
// profile by definition of the normalisation.
const Null = "null"

// Result is one detector's NAB scores, one per profile in corpus order.
type Result struct {
	Detector string
	// From says where the thresholds come from: "search" (the best
	// corpus-wide threshold per profile) or a thresholds file.
	From   string
	Scores []ProfileScore
	// NsPerPoint is the detector's time per point over the corpus: the sum
	// of its per-file CPU times (wall times where the thread's CPU time is
	// not available) over the rows, so neither parallel workers nor other
	// load distort it much. 0 for published scores read from a file.
	NsPerPoint float64
}

// Score returns the normalised score under the named profile (0 if absent).
func (r Result) Score(profile string) float64 {
	for _, s := range r.Scores {
		if s.Profile == profile {
			return s.Score
		}
	}
	return 0
}

// jsonLine fixes the key order of Result's JSON form.
type jsonLine struct {
	Detector    string              `json:"detector"`
	From        string              `json:"thresholds_from"`
	Standard    float64             `json:"standard"`
	RewardLowFP float64             `json:"reward_low_FP"`
	RewardLowFN float64             `json:"reward_low_FN"`
	Thresholds  map[string]*float64 `json:"thresholds"`
	NsPerPoint  float64             `json:"ns_per_point,omitempty"`
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// MarshalJSON renders {"detector", "thresholds_from", "standard",
// "reward_low_FP", "reward_low_FN", "thresholds": {profile: threshold},
// "ns_per_point"} with scores rounded to 4 decimals, thresholds to 6 (null
// when never firing was best) and the cost to whole nanoseconds (left out
// when not measured).
func (r Result) MarshalJSON() ([]byte, error) {
	thr := make(map[string]*float64, len(r.Scores))
	for _, s := range r.Scores {
		if math.IsInf(s.Threshold, 0) || math.IsNaN(s.Threshold) {
			thr[s.Profile] = nil
			continue
		}
		t := math.Round(s.Threshold*1e6) / 1e6
		thr[s.Profile] = &t
	}
	return json.Marshal(jsonLine{
		Detector:    r.Detector,
		From:        r.From,
		Standard:    round4(r.Score("standard")),
		RewardLowFP: round4(r.Score("reward_low_FP")),
		RewardLowFN: round4(r.Score("reward_low_FN")),
		Thresholds:  thr,
		NsPerPoint:  math.Round(r.NsPerPoint),
	})
}

// DefaultNames is every registered detector plus the null detector.
func DefaultNames() []string {
	return append(anomaly.Names(), Null)
}

// Run loads the corpus in dir and scores the named detectors (DefaultNames
// when names is empty), in the order given.
func Run(dir string, names []string) ([]Result, error) {
	c, err := Load(dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = DefaultNames()
	}
	out := make([]Result, 0, len(names))
	for _, name := range names {
		r, err := c.Evaluate(name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// nullDetector never fires.
type nullDetector struct{}

func (nullDetector) Score(float64) float64 { return 0 }
func (nullDetector) Reset()                {}

func newDetector(name string) (anomaly.Detector, error) {
	if name == Null {
		return nullDetector{}, nil
	}
	return anomaly.New(name)
}

// Evaluate runs a fresh detector of the given name over every file and
// picks the best corpus-wide threshold per profile.
func (c *Corpus) Evaluate(name string) (Result, error) {
	if _, err := newDetector(name); err != nil {
		return Result{}, fmt.Errorf("nab: %w", err)
	}
	return c.EvaluateFunc(name, func() anomaly.Detector {
		d, _ := newDetector(name) // validated above
		return d
	})
}

// EvaluateFunc is Evaluate for detectors made by mk (one per file),
// reported under name.
func (c *Corpus) EvaluateFunc(name string, mk func() anomaly.Detector) (Result, error) {
	scores, elapsed, err := c.detect(mk)
	if err != nil {
		return Result{}, fmt.Errorf("nab: detector %s: %w", name, err)
	}
	ps, err := c.Sweep(scores)
	if err != nil {
		return Result{}, fmt.Errorf("nab: detector %s: %w", name, err)
	}
	return Result{Detector: name, From: "search", Scores: ps,
		NsPerPoint: float64(elapsed.Nanoseconds()) / float64(c.Rows())}, nil
}

// Detect streams every file through its own detector from mk and returns
// the scores per file and row. Files run on a bounded pool of workers; each
// result lands in its own slot, so the output does not depend on
// scheduling.
func (c *Corpus) Detect(mk func() anomaly.Detector) ([][]float64, error) {
	scores, _, err := c.detect(mk)
	return scores, err
}

// detect is Detect, also returning the sum of the per-file times: the CPU
// time of the worker's thread where available (Linux), else wall time.
func (c *Corpus) detect(mk func() anomaly.Detector) ([][]float64, time.Duration, error) {
	scores := make([][]float64, len(c.Files))
	elapsed := make([]time.Duration, len(c.Files))
	errs := make([]error, len(c.Files))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(c.Files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // for cputime.Thread
			defer runtime.UnlockOSThread()
			for i := range jobs {
				d := mk()
				cpu0, cpuOK := cputime.Thread()
				start := time.Now()
				scores[i], errs[i] = detectFile(d, c.Files[i].Values)
				elapsed[i] = time.Since(start)
				if cpu1, ok := cputime.Thread(); cpuOK && ok {
					elapsed[i] = cpu1 - cpu0
				}
			}
		}()
	}
	for i := range c.Files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	var total time.Duration
	for i, err := range errs {
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", c.Files[i].Name, err)
		}
		total += elapsed[i]
	}
	return scores, total, nil
}

func detectFile(d anomaly.Detector, values []float64) ([]float64, error) {
	out := make([]float64, len(values))
	for i, v := range values {
		s := d.Score(v)
		if math.IsNaN(s) || s < 0 || s > 1 {
			return nil, fmt.Errorf("score %v at row %d is outside [0, 1]", s, i)
		}
		out[i] = s
	}
	return out, nil
}
