// Package nab loads the Numenta Anomaly Benchmark (NAB) corpus and scores
// streaming anomaly detectors on it (Ahmad, Lavin, Purdy, Agha 2017,
// Neurocomputing, doi:10.1016/j.neucom.2017.04.070).
//
// The scorer is a reimplementation (no NAB code is used) that scores as
// NAB's code does (nab/sweeper.py, nab/runner.py @ ea702d7) where it
// departs from the paper's prose: positions inside a window, the sigmoid's
// clamp, which windows count, the perfect score. Scoring the raw outputs
// NAB publishes for its detectors at NAB's thresholds gives back the
// published scoreboard (TestOfficialScores).
package nab

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Window is an anomaly window as inclusive row indices into a File.
type Window struct {
	Start, End int
}

// File is one NAB series with its scoring windows.
type File struct {
	Name      string // "category/name.csv", the key used by the labels file
	Times     []time.Time
	Values    []float64
	Windows   []Window // sorted, non-overlapping
	Probation int      // rows [0, Probation) are not scored
}

// Profile is one NAB cost profile (the weights of true positives, false
// negatives and false positives).
type Profile struct {
	Name       string // "standard", "reward_low_FP" or "reward_low_FN"
	TP, FN, FP float64
}

// Corpus is the whole benchmark: files sorted by name and the cost profiles
// in a fixed order (standard, reward_low_FP, reward_low_FN).
type Corpus struct {
	Files    []File
	Profiles []Profile
}

// DefaultProfiles are the three published NAB profiles, used when the
// corpus has no config/profiles.json.
var DefaultProfiles = []Profile{
	{Name: "standard", TP: 1, FN: 1, FP: 0.11},
	{Name: "reward_low_FP", TP: 1, FN: 1, FP: 0.22},
	{Name: "reward_low_FN", TP: 1, FN: 2, FP: 0.11},
}

// profileKeys are the names of DefaultProfiles in config/profiles.json.
var profileKeys = map[string]string{
	"standard":      "standard",
	"reward_low_FP": "reward_low_FP_rate",
	"reward_low_FN": "reward_low_FN_rate",
}

// ProbationPeriod is the number of leading rows of a file of n rows that
// are not scored: 15% of the file, at most 750 rows.
func ProbationPeriod(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 750))
}

// Load reads a NAB directory: data/<category>/<name>.csv,
// labels/combined_windows.json and (optionally) config/profiles.json.
func Load(dir string) (*Corpus, error) {
	labels, err := loadLabels(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, err
	}
	profiles, err := loadProfiles(filepath.Join(dir, "config", "profiles.json"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names) // determinism: never depend on map order
	c := &Corpus{Profiles: profiles}
	for _, name := range names {
		f, err := loadFile(filepath.Join(dir, "data", filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		f.Name = name
		if f.Windows, err = windowRows(f.Times, labels[name]); err != nil {
			return nil, fmt.Errorf("nab: windows of %s: %w", name, err)
		}
		c.Files = append(c.Files, f)
	}
	if len(c.Files) == 0 {
		return nil, fmt.Errorf("nab: no labelled files in %s", dir)
	}
	return c, nil
}

// labelTime parses the timestamps used by the labels and data files.
func labelTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("nab: bad timestamp %q", s)
}

type timeWindow struct{ start, end time.Time }

func loadLabels(path string) (map[string][]timeWindow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nab: labels: %w", err)
	}
	var raw map[string][][]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("nab: labels %s: %w", path, err)
	}
	out := make(map[string][]timeWindow, len(raw))
	for name, ws := range raw {
		tws := make([]timeWindow, 0, len(ws))
		for _, w := range ws {
			if len(w) != 2 {
				return nil, fmt.Errorf("nab: labels of %s: window with %d timestamps", name, len(w))
			}
			start, err := labelTime(w[0])
			if err != nil {
				return nil, fmt.Errorf("nab: labels of %s: %w", name, err)
			}
			end, err := labelTime(w[1])
			if err != nil {
				return nil, fmt.Errorf("nab: labels of %s: %w", name, err)
			}
			tws = append(tws, timeWindow{start, end})
		}
		out[name] = tws
	}
	return out, nil
}

func loadProfiles(path string) ([]Profile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return append([]Profile(nil), DefaultProfiles...), nil
	}
	if err != nil {
		return nil, fmt.Errorf("nab: profiles: %w", err)
	}
	var raw map[string]struct {
		CostMatrix struct {
			TP float64 `json:"tpWeight"`
			FN float64 `json:"fnWeight"`
			FP float64 `json:"fpWeight"`
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("nab: profiles %s: %w", path, err)
	}
	out := make([]Profile, 0, len(DefaultProfiles))
	for _, def := range DefaultProfiles {
		r, ok := raw[profileKeys[def.Name]]
		if !ok {
			return nil, fmt.Errorf("nab: profiles %s: missing profile %q", path, profileKeys[def.Name])
		}
		out = append(out, Profile{Name: def.Name, TP: r.CostMatrix.TP, FN: r.CostMatrix.FN, FP: r.CostMatrix.FP})
	}
	return out, nil
}

// loadFile reads a "timestamp,value" CSV.
func loadFile(path string) (File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("nab: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = 2
	r.ReuseRecord = true
	var f File
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return File{}, fmt.Errorf("nab: %s: %w", path, err)
		}
		if line == 1 && rec[0] == "timestamp" {
			continue
		}
		t, err := labelTime(rec[0])
		if err != nil {
			return File{}, fmt.Errorf("nab: %s line %d: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return File{}, fmt.Errorf("nab: %s line %d: %w", path, line, err)
		}
		f.Times = append(f.Times, t)
		f.Values = append(f.Values, v)
	}
	if len(f.Values) == 0 {
		return File{}, fmt.Errorf("nab: %s: no rows", path)
	}
	f.Probation = ProbationPeriod(len(f.Values))
	return f, nil
}

// windowRows turns timestamp windows into inclusive row ranges: a row is in
// a window when start <= t <= end.
func windowRows(times []time.Time, tws []timeWindow) ([]Window, error) {
	ws := make([]Window, 0, len(tws))
	for _, tw := range tws {
		start := sort.Search(len(times), func(i int) bool { return !times[i].Before(tw.start) })
		end := sort.Search(len(times), func(i int) bool { return times[i].After(tw.end) }) - 1
		if start > end {
			return nil, fmt.Errorf("window %v..%v holds no rows", tw.start, tw.end)
		}
		ws = append(ws, Window{Start: start, End: end})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].Start < ws[j].Start })
	for i := 1; i < len(ws); i++ {
		if ws[i].Start <= ws[i-1].End {
			return nil, fmt.Errorf("windows %d and %d overlap", i-1, i)
		}
	}
	return ws, nil
}
