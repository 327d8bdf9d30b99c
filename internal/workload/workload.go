// Package workload is offered load over time: synthetic shapes (step, ramp,
// sine, spike) and replayed traces (CSV), in requests per second.
package workload

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// Source gives the offered load at an offset from the start.
type Source interface {
	// Rate is the load in requests/s at offset t (t >= 0).
	Rate(t time.Duration) float64
	// Length is how long the source lasts; 0 for a shape that never ends.
	Length() time.Duration
}

// Pattern is a synthetic shape.
type Pattern config.Pattern

var _ Source = Pattern{}
var _ Source = (*Series)(nil)

// Rate implements Source.
func (p Pattern) Rate(t time.Duration) float64 {
	at, dur := p.At.D(), p.Duration.D()
	switch p.Shape {
	case config.ShapeStep:
		if t >= at && (dur == 0 || t < at+dur) {
			return p.Peak
		}
		return p.Base
	case config.ShapeRamp:
		switch {
		case t < at:
			return p.Base
		case t >= at+dur:
			return p.Peak
		}
		return p.Base + (p.Peak-p.Base)*float64(t-at)/float64(dur)
	case config.ShapeSine:
		// Base at the start, Peak half a period later.
		phase := 2 * math.Pi * float64(t) / float64(dur)
		return p.Base + (p.Peak-p.Base)*(1-math.Cos(phase))/2
	case config.ShapeSpike:
		// A triangle from Base to Peak and back over Duration.
		if t < at || t >= at+dur {
			return p.Base
		}
		x := float64(t-at) / float64(dur)
		return p.Base + (p.Peak-p.Base)*(1-math.Abs(2*x-1))
	}
	return p.Base
}

// Length implements Source: shapes never end.
func (p Pattern) Length() time.Duration { return 0 }

// Series is a trace: one value per Step, interpolated linearly in between.
type Series struct {
	Name   string
	Values []float64
	Step   time.Duration
}

// Rate implements Source; past the end it holds the last value.
func (s *Series) Rate(t time.Duration) float64 {
	if len(s.Values) == 0 {
		return 0
	}
	x := float64(t) / float64(s.Step)
	i := int(x)
	if i >= len(s.Values)-1 {
		return s.Values[len(s.Values)-1]
	}
	f := x - float64(i)
	return s.Values[i]*(1-f) + s.Values[i+1]*f
}

// Length implements Source.
func (s *Series) Length() time.Duration { return time.Duration(len(s.Values)) * s.Step }

// Peak returns the largest value.
func (s *Series) Peak() float64 {
	m := 0.0
	for _, v := range s.Values {
		m = math.Max(m, v)
	}
	return m
}

// ScaleToPeak rescales the series so its maximum becomes peak.
func (s *Series) ScaleToPeak(peak float64) {
	m := s.Peak()
	if m <= 0 {
		return
	}
	for i := range s.Values {
		s.Values[i] *= peak / m
	}
}

// CutZeroRuns removes runs of zeros lasting at least min (an outage in the
// trace, like the NASA server's hurricane shutdown, is not load).
func (s *Series) CutZeroRuns(min time.Duration) int {
	if min <= 0 {
		return 0
	}
	n := int(min / s.Step)
	if n < 1 {
		n = 1
	}
	out := s.Values[:0]
	cut := 0
	for i := 0; i < len(s.Values); {
		if s.Values[i] != 0 {
			out = append(out, s.Values[i])
			i++
			continue
		}
		j := i
		for j < len(s.Values) && s.Values[j] == 0 {
			j++
		}
		if j-i >= n {
			cut += j - i
		} else {
			out = append(out, s.Values[i:j]...)
		}
		i = j
	}
	s.Values = out
	return cut
}

// Truncate keeps at most d of the series.
func (s *Series) Truncate(d time.Duration) {
	if d <= 0 {
		return
	}
	n := int(d / s.Step)
	if n < len(s.Values) {
		s.Values = s.Values[:n]
	}
}

// ErrNoColumn is returned when the CSV has no such column.
var ErrNoColumn = errors.New("no such column")

// ReadCSV reads column (the last column when empty) of a CSV file with a
// header. Values must be numbers >= 0; an error names the line.
func ReadCSV(path, column string, step time.Duration) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	s, err := ParseCSV(bufio.NewReader(f), column, step)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	s.Name = path
	return s, nil
}

// ParseCSV is ReadCSV on a reader.
func ParseCSV(r io.Reader, column string, step time.Duration) (*Series, error) {
	if step <= 0 {
		return nil, errors.New("step must be > 0")
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	rec, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	head := append([]string(nil), rec...) // the reader reuses its record

	col := len(head) - 1
	if column != "" {
		col = -1
		for i, h := range head {
			if strings.TrimSpace(h) == column {
				col = i
			}
		}
		if col < 0 {
			return nil, fmt.Errorf("%w %q (columns: %s)", ErrNoColumn, column, strings.Join(head, ", "))
		}
	}
	s := &Series{Step: step}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if col >= len(rec) {
			return nil, fmt.Errorf("line %d: no column %d", line, col+1)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[col]), 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("line %d: column %s: %q is not a number >= 0", line, head[col], rec[col])
		}
		s.Values = append(s.Values, v)
	}
	if len(s.Values) == 0 {
		return nil, errors.New("no rows")
	}
	return s, nil
}
