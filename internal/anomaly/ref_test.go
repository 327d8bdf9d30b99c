package anomaly

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The detectors' hot paths were rewritten for speed (issue 13 item 6);
// the types here are their state and arithmetic as they were at 970f6ce,
// and the tests below hold the new code to them bit for bit, value by
// value, on random series and NAB files.

// knnRef is KNN's non-conformity as at 970f6ce: a ring read through back.
type knnRef struct {
	cfg    KNNConfig
	x      []float64
	xHead  int
	xn     int
	dist   []float64
	since  int
	best   []float64
	lo, hi float64
}

func newKNNRef(cfg KNNConfig) *knnRef {
	cfg.Dim = max(cfg.Dim, 2)
	cfg.K = max(cfg.K, 1)
	cfg.History = max(cfg.History, cfg.Dim+cfg.K)
	return &knnRef{
		cfg:  cfg,
		x:    make([]float64, cfg.History+cfg.Dim+1),
		dist: make([]float64, cfg.History+1),
		best: make([]float64, cfg.K),
		lo:   math.Inf(1), hi: math.Inf(-1),
	}
}

func (d *knnRef) update(v float64) (float64, bool) {
	d.lo, d.hi = math.Min(d.lo, v), math.Max(d.hi, v)
	d.xHead = (d.xHead + 1) % len(d.x)
	d.x[d.xHead] = v
	d.xn++
	if d.xn < d.cfg.Dim {
		return 0, false
	}
	return d.nonConformity()
}

func (d *knnRef) back(i int) float64 {
	j := d.xHead - i
	if j < 0 {
		j += len(d.x)
	}
	return d.x[j]
}

func (d *knnRef) lagDistance(lag int) float64 {
	s := 0.0
	for j := range d.cfg.Dim {
		t := d.back(j) - d.back(lag+j)
		s += t * t
	}
	return s
}

func (d *knnRef) nonConformity() (float64, bool) {
	dim := d.cfg.Dim
	embN := min(d.xn-dim, d.cfg.History)
	full := d.since == 0
	d.since = (d.since + 1) % recompute
	enter, leave := d.back(0), d.back(dim)
	for lag := dim + 1; lag <= embN; lag++ {
		if full || (lag == embN && d.xn-dim <= d.cfg.History) {
			d.dist[lag] = d.lagDistance(lag)
			continue
		}
		a, b := enter-d.back(lag), leave-d.back(lag+dim)
		d.dist[lag] = max(0, d.dist[lag]+a*a-b*b)
	}
	if embN-dim < d.cfg.K {
		return 0, false
	}
	for i := range d.best {
		d.best[i] = math.Inf(1)
	}
	worst := math.Inf(1)
	for lag := dim + 1; lag <= embN; lag++ {
		s := d.dist[lag]
		if s >= worst {
			continue
		}
		j := len(d.best) - 1
		for j > 0 && d.best[j-1] > s {
			d.best[j] = d.best[j-1]
			j--
		}
		d.best[j] = s
		worst = d.best[len(d.best)-1]
	}
	sum := 0.0
	for _, s := range d.best {
		sum += math.Sqrt(s / float64(dim))
	}
	r := d.hi - d.lo
	if r <= 0 {
		r = 1
	}
	return sum / float64(len(d.best)) / r, true
}

// pushRef is sortedWindow.push as at 970f6ce: the evicted value is
// removed, then the new one inserted, two moves.
func pushRef(w *sortedWindow, v float64) {
	if old, ok := w.ring.push(v); ok {
		i := sort.SearchFloat64s(w.sorted, old)
		copy(w.sorted[i:], w.sorted[i+1:])
		w.sorted = w.sorted[:len(w.sorted)-1]
	}
	i := sort.SearchFloat64s(w.sorted, v)
	w.sorted = w.sorted[:len(w.sorted)+1]
	copy(w.sorted[i+1:], w.sorted[i:])
	w.sorted[i] = v
}

// refSeries are the series the reference tests replay: random ones with
// ties, signed zeros, steps and spikes at small and huge levels, and NAB
// files (from the repository's copy of the corpus).
func refSeries(t *testing.T) map[string][]float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	out := map[string][]float64{}
	for k, level := range []float64{0, 1, 1e6, 1e-3} {
		v := make([]float64, 5000)
		for i := range v {
			switch {
			case k == 1 && i%5 != 0:
				v[i] = float64(rng.IntN(3))
			case k == 0 && i%3 == 0:
				v[i] = math.Copysign(0, -1)
			default:
				v[i] = level + rng.NormFloat64()*math.Max(level, 1)*0.01
			}
			if i > 2500 {
				v[i] += level / 3
			}
			if i%701 == 0 {
				v[i] += 30 * math.Max(level, 1)
			}
		}
		out["random/"+strconv.Itoa(k)] = v
	}
	for _, name := range []string{
		"realKnownCause/nyc_taxi.csv",
		"realKnownCause/machine_temperature_system_failure.csv",
		"realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
		"artificialWithAnomaly/art_daily_flatmiddle.csv",
		"artificialNoAnomaly/art_flatline.csv",
		"realTweets/Twitter_volume_AAPL.csv",
	} {
		out["nab/"+name] = readNAB(t, name)
	}
	return out
}

// readNAB reads a NAB data file's values.
func readNAB(t *testing.T, name string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "nab", "data", name))
	if err != nil {
		t.Fatalf("NAB corpus: %v", err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		_, val, ok := strings.Cut(sc.Text(), ",")
		if !ok {
			t.Fatalf("%s: line %q", name, sc.Text())
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// KNN's non-conformity is the reference's bit for bit, for the default
// fine and coarse configurations and small ones (which grow past History,
// and through many full recomputations, sooner).
func TestKNNMatchesReference(t *testing.T) {
	cfgs := []KNNConfig{
		DefaultKNNConfig(),
		{Dim: 16, History: 300, K: 3, Calib: 50},
		{Dim: 5, History: 40, K: 3, Calib: 10},
		{Dim: 2, History: 3, K: 1, Calib: 2},
		{Dim: 3, History: 100, K: 7, Calib: 2},
	}
	for name, vals := range refSeries(t) {
		for _, cfg := range cfgs {
			d, ref := NewKNN(cfg), newKNNRef(cfg)
			for i, v := range vals {
				got, ok := d.update(v)
				want, wantOK := ref.update(v)
				if ok != wantOK || math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("%s, %+v, value %d: non-conformity %v (%v), reference %v (%v)", name, cfg, i, got, ok, want, wantOK)
				}
			}
		}
	}
}

// A sorted window's sorted values are the reference's bit for bit (signed
// zeros in place), for the windows Records and RobustZ use and small ones.
func TestSortedWindowMatchesReference(t *testing.T) {
	for name, vals := range refSeries(t) {
		for _, capacity := range []int{1, 2, 3, 10, 100, 500} {
			w, ref := newSortedWindow(capacity), newSortedWindow(capacity)
			for i, v := range vals {
				w.push(v)
				pushRef(&ref, v)
				if len(w.sorted) != len(ref.sorted) {
					t.Fatalf("%s, window %d, value %d: %d values, reference %d", name, capacity, i, len(w.sorted), len(ref.sorted))
				}
				for j := range w.sorted {
					if math.Float64bits(w.sorted[j]) != math.Float64bits(ref.sorted[j]) {
						t.Fatalf("%s, window %d, value %d: sorted[%d] %v, reference %v", name, capacity, i, j, w.sorted[j], ref.sorted[j])
					}
				}
			}
		}
	}
}
