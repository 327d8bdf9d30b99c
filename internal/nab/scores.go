package nab

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoThreshold is returned when a thresholds file has no threshold for a
// detector and profile.
var ErrNoThreshold = errors.New("no threshold")

// Scores are a detector's outputs for a corpus: Series[i] has one score
// per row of the corpus' file i.
type Scores struct {
	Series [][]float64
	// Mismatches counts rows whose timestamp differs from the data file's
	// row at the same position, First describes the first. NAB pairs scores
	// with rows by position, and so does ReadScores (NAB's published
	// randomCutForest outputs repeat some timestamps), but a mismatch is
	// worth a warning.
	Mismatches int
	First      string
}

// ReadScores reads a detector's raw outputs for the whole corpus from path:
// CSV rows "file,timestamp,anomaly_score" (a header line first, gzip or
// not), each data file's rows in its order, as NAB's repository publishes
// them (results/<detector>/). Every file of c must be there with exactly
// its number of rows.
func ReadScores(path string, c *Corpus) (*Scores, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nab: scores: %w", err)
	}
	defer fh.Close()
	scores, err := readScores(fh, path, c)
	if err != nil {
		return nil, fmt.Errorf("nab: scores %w", err)
	}
	return scores, nil
}

// readScores reads the scores from r; name prefixes error positions.
func readScores(r io.Reader, name string, c *Corpus) (*Scores, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer gz.Close()
		br = bufio.NewReader(gz)
	}
	index := make(map[string]int, len(c.Files))
	for i := range c.Files {
		index[c.Files[i].Name] = i
	}
	out := &Scores{Series: make([][]float64, len(c.Files))}
	scores := out.Series
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = 3
	cr.ReuseRecord = true
	header := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d:%d: %w", name, pe.Line, pe.Column, pe.Err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, col := cr.FieldPos(0)
		if header {
			header = false
			if rec[0] == "file" && rec[1] == "timestamp" && rec[2] == "anomaly_score" {
				continue
			}
			return nil, fmt.Errorf("%s:%d:%d: header %q, want \"file,timestamp,anomaly_score\"", name, line, col, strings.Join(rec, ","))
		}
		fi, ok := index[rec[0]]
		if !ok {
			return nil, fmt.Errorf("%s:%d:%d: file: %q is not a file of the corpus", name, line, col, rec[0])
		}
		f := &c.Files[fi]
		row := len(scores[fi])
		if row >= len(f.Times) {
			return nil, fmt.Errorf("%s:%d:%d: file: more rows for %s than its %d", name, line, col, f.Name, len(f.Times))
		}
		t, err := labelTime(rec[1])
		if err != nil {
			l, c := cr.FieldPos(1)
			return nil, fmt.Errorf("%s:%d:%d: timestamp: %w", name, l, c, err)
		}
		if !t.Equal(f.Times[row]) {
			if out.Mismatches == 0 {
				l, c := cr.FieldPos(1)
				out.First = fmt.Sprintf("%s:%d:%d: timestamp %s, but %s row %d is at %s",
					name, l, c, strings.TrimSpace(rec[1]), f.Name, row, f.Times[row].Format("2006-01-02 15:04:05"))
			}
			out.Mismatches++
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[2]), 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = errors.New("not a finite number")
		}
		if err != nil {
			l, c := cr.FieldPos(2)
			return nil, fmt.Errorf("%s:%d:%d: anomaly_score: %w", name, l, c, err)
		}
		scores[fi] = append(scores[fi], v)
	}
	for i := range c.Files {
		if got, want := len(scores[i]), len(c.Files[i].Values); got != want {
			return nil, fmt.Errorf("%s: %s has %d scores for %d rows", name, c.Files[i].Name, got, want)
		}
	}
	return out, nil
}

// Thresholds maps profile names (standard, reward_low_FP, reward_low_FN)
// to a detector's thresholds.
type Thresholds map[string]float64

// ReadThresholds reads a detector's thresholds from a NAB thresholds file
// (config/thresholds.json: {detector: {"standard": {"threshold": x}, ...}}).
func ReadThresholds(path, detector string) (Thresholds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nab: thresholds: %w", err)
	}
	var raw map[string]map[string]struct {
		Threshold *float64 `json:"threshold"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("nab: thresholds %s: %w", path, err)
	}
	d, ok := raw[detector]
	if !ok {
		return nil, fmt.Errorf("nab: thresholds %s: detector %q: %w", path, detector, ErrNoThreshold)
	}
	out := make(Thresholds, len(DefaultProfiles))
	for _, p := range DefaultProfiles {
		key := profileKeys[p.Name]
		t, ok := d[key]
		if !ok || t.Threshold == nil {
			return nil, fmt.Errorf("nab: thresholds %s: %s.%s.threshold: %w", path, detector, key, ErrNoThreshold)
		}
		out[p.Name] = *t.Threshold
	}
	return out, nil
}

// ScoreAt scores the anomaly scores (one series per file of c) at the given
// thresholds, one per profile: a row is a detection when its score is at
// least the threshold, as in NAB's scorer. Results follow c.Profiles.
func (c *Corpus) ScoreAt(scores [][]float64, thr Thresholds) ([]ProfileScore, error) {
	if len(scores) != len(c.Files) {
		return nil, fmt.Errorf("nab: %d score series for %d files", len(scores), len(c.Files))
	}
	out := make([]ProfileScore, 0, len(c.Profiles))
	for _, p := range c.Profiles {
		t, ok := thr[p.Name]
		if !ok {
			return nil, fmt.Errorf("nab: profile %s: %w", p.Name, ErrNoThreshold)
		}
		raw := 0.0
		for i := range c.Files {
			f := &c.Files[i]
			if len(scores[i]) != len(f.Values) {
				return nil, fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(scores[i]), len(f.Values))
			}
			det := make([]bool, len(scores[i]))
			for j, s := range scores[i] {
				det[j] = s >= t
			}
			raw += ScoreDetections(f, det, p)
		}
		out = append(out, ProfileScore{Profile: p.Name, Score: c.Normalize(raw, p), Threshold: t})
	}
	return out, nil
}

// ScoreFile scores a detector's published outputs (see ReadScores) on c,
// reported under name (the scores come back too, for their timestamp
// mismatches): at the thresholds of the NAB thresholds file
// thresholdsPath for that detector name when it is not empty, and always
// with the threshold search, so that both figures are shown.
func (c *Corpus) ScoreFile(path, name, thresholdsPath string) ([]Result, *Scores, error) {
	var thr Thresholds
	if thresholdsPath != "" {
		var err error
		if thr, err = ReadThresholds(thresholdsPath, name); err != nil {
			return nil, nil, err
		}
	}
	scores, err := ReadScores(path, c)
	if err != nil {
		return nil, nil, err
	}
	var out []Result
	if thr != nil {
		ps, err := c.ScoreAt(scores.Series, thr)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, Result{Detector: name, From: thresholdsPath, Scores: ps})
	}
	ps, err := c.Sweep(scores.Series)
	if err != nil {
		return nil, nil, err
	}
	return append(out, Result{Detector: name, From: "search", Scores: ps}), scores, nil
}

// ScoresName is the detector name of a scores file: its base name without
// ".csv" or ".csv.gz" ("ARTime" for official_scores/ARTime.csv.gz).
func ScoresName(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, ".gz")
	return strings.TrimSuffix(base, ".csv")
}
