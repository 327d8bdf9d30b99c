package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The plots are drawn with the standard library (and x/image's bitmap font):
// one row per policy, demand as a grey area, supply as a blue line, and a red
// strip under each row where supply fell short of demand, so a reader sees at
// a glance who follows the demand, who sits above it, and when it was missed.

var (
	colBG      = color.RGBA{255, 255, 255, 255}
	colGrid    = color.RGBA{232, 232, 232, 255}
	colAxis    = color.RGBA{120, 120, 120, 255}
	colText    = color.RGBA{30, 30, 30, 255}
	colDemand  = color.RGBA{200, 200, 200, 255}
	colSupply  = color.RGBA{31, 119, 180, 255}
	colExist   = color.RGBA{255, 127, 14, 255}
	colUnder   = color.RGBA{214, 39, 40, 255}
	colOffered = color.RGBA{90, 90, 90, 255}
)

const (
	plotW    = 1400
	marginL  = 150
	marginR  = 20
	rowH     = 120
	rowGap   = 34
	headerH  = 64
	footerH  = 34
	strip    = 5
	lineSize = 2
)

// Plot draws replicas.png, machines.png and zoom.png into dir and returns
// their file names.
func Plot(dir string, meta Meta, res map[string]*Result) ([]string, error) {
	var rows []*Result
	for _, n := range meta.Policies {
		if r := res[n]; r != nil && r.Series != nil && len(r.Series.DemandReplicas) > 1 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	n := len(rows[0].Series.DemandReplicas)
	var out []string
	figs := []struct {
		file, title string
		machines    bool
		from, to    int
	}{
		{"replicas.png", "Replicas: demand (grey) vs running (blue); red: under-provisioned", false, 0, n},
		{"machines.png", "Machines: demand (grey) vs ready (blue) and existing incl. booting/draining (orange); red: under-provisioned", true, 0, n},
	}
	if from, to := zoomWindow(rows[0].Series, 4*time.Hour); 2*(to-from) <= n {
		figs = append(figs, struct {
			file, title string
			machines    bool
			from, to    int
		}{"zoom.png", fmt.Sprintf("Replicas, zoom on the steepest rise (%s to %s of the measured span)", hm(from), hm(to)), false, from, to})
	}
	for _, f := range figs {
		img := figure(f.title, meta, rows, f.machines, f.from, f.to)
		if err := writePNG(filepath.Join(dir, f.file), img); err != nil {
			return nil, err
		}
		out = append(out, f.file)
	}
	return out, nil
}

func hm(sec int) string {
	d := time.Duration(sec) * time.Second
	return fmt.Sprintf("%dh%02d", int(d.Hours()), int(d.Minutes())%60)
}

// zoomWindow finds the span of length w around the largest rise of demand
// within w (where reactive policies are tested hardest).
func zoomWindow(s *Series, w time.Duration) (int, int) {
	n := len(s.DemandReplicas)
	ws := int(w / s.Step)
	if ws >= n {
		return 0, n
	}
	// The rise over a quarter of the window, from a running minimum.
	q := ws / 4
	best, at := int32(-1), 0
	for i := q; i < n; i += 30 {
		if rise := s.DemandReplicas[i] - s.DemandReplicas[i-q]; rise > best {
			best, at = rise, i
		}
	}
	from := min(max(at-ws/2, 0), n-ws)
	return from, from + ws
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func figure(title string, meta Meta, rows []*Result, machines bool, from, to int) *image.RGBA {
	h := headerH + len(rows)*(rowH+rowGap) + footerH
	img := image.NewRGBA(image.Rect(0, 0, plotW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	c := &canvas{img}
	c.text(marginL, 22, title, colText)
	c.text(marginL, 42, meta.Trace, colAxis)
	// One y scale for all rows, so rows compare.
	ymax := int32(1)
	for _, r := range rows {
		d, s, e := r.Series.series(machines)
		for i := from; i < to; i++ {
			ymax = max(ymax, d[i], s[i])
			if e != nil {
				ymax = max(ymax, e[i])
			}
		}
	}
	for i, r := range rows {
		top := headerH + i*(rowH+rowGap)
		area := image.Rect(marginL, top, plotW-marginR, top+rowH)
		d, s, e := r.Series.series(machines)
		el := r.Replicas
		if machines {
			el = r.Machines
		}
		c.text(8, top+16, r.Policy, colText)
		c.text(8, top+34, fmt.Sprintf("thU %.1f thO %.1f", el.ThetaU, el.ThetaO), colAxis)
		c.text(8, top+50, fmt.Sprintf("tU %.1f%% tO %.1f%%", el.TauU, el.TauO), colAxis)
		hours := r.ReplicaHours
		unit := "replica-h"
		if machines {
			hours, unit = r.MachineHours, "machine-h"
		}
		c.text(8, top+66, fmt.Sprintf("%.0f %s", hours, unit), colAxis)
		c.text(8, top+82, fmt.Sprintf("SLO viol %.0fs", r.SLOViolationSeconds), colAxis)
		panel(c, area, d, s, e, from, to, ymax)
	}
	// Time axis under the last row.
	last := headerH + len(rows)*(rowH+rowGap) - rowGap + strip + 4
	timeAxis(c, marginL, plotW-marginR, last, from, to)
	return img
}

func (s *Series) series(machines bool) (demand, supply, existing []int32) {
	if machines {
		return s.DemandMachines, s.SupplyMachines, s.ExistingMachines
	}
	return s.DemandReplicas, s.SupplyReplicas, nil
}

// panel draws one row: grid, demand area, supply line, optional existing
// line, and the under-provisioning strip below.
func panel(c *canvas, a image.Rectangle, d, s, e []int32, from, to int, ymax int32) {
	c.fill(a, colBG)
	y := func(v float64) int { return a.Max.Y - 1 - int(math.Round(v/float64(ymax)*float64(a.Dy()-lineSize-1))) }
	step := niceStep(float64(ymax), 5)
	for v := 0.0; v <= float64(ymax)+1e-9; v += step {
		yy := y(v)
		c.hline(a.Min.X, a.Max.X, yy, colGrid)
		c.textRight(a.Min.X-6, yy+4, fmt.Sprintf("%g", v), colAxis)
	}
	w := a.Dx()
	span := to - from
	prevS, prevE := -1, -1
	for px := 0; px < w; px++ {
		i0 := from + px*span/w
		i1 := max(from+(px+1)*span/w, i0+1)
		var dmax, smin, smax, emin, emax int32 = 0, math.MaxInt32, 0, math.MaxInt32, 0
		under := 0
		for i := i0; i < i1 && i < to; i++ {
			dmax = max(dmax, d[i])
			smin, smax = min(smin, s[i]), max(smax, s[i])
			if e != nil {
				emin, emax = min(emin, e[i]), max(emax, e[i])
			}
			if s[i] < d[i] {
				under++
			}
		}
		x := a.Min.X + px
		c.vline(x, y(float64(dmax)), a.Max.Y-1, colDemand)
		if e != nil {
			prevE = trace(c, x, y(float64(emin)), y(float64(emax)), prevE, colExist, 1)
		}
		prevS = trace(c, x, y(float64(smin)), y(float64(smax)), prevS, colSupply, lineSize)
		if under > 0 {
			share := float64(under) / float64(i1-i0)
			col := blend(colBG, colUnder, 0.35+0.65*share)
			c.vline(x, a.Max.Y+2, a.Max.Y+2+strip, col)
		}
	}
	c.hline(a.Min.X, a.Max.X, a.Max.Y, colAxis)
	c.vline(a.Min.X, a.Min.Y, a.Max.Y, colAxis)
}

// trace draws a column of a line: from its low to high value, joined to the
// previous column's, thick pixels wide. It returns the column's last y.
func trace(c *canvas, x, yLow, yHigh, prev int, col color.RGBA, thick int) int {
	top, bot := yHigh, yLow // pixel y grows downward
	if prev >= 0 {
		top, bot = min(top, prev), max(bot, prev)
	}
	for t := 0; t < thick; t++ {
		c.vline(x, top-t, bot-t, col)
	}
	return yHigh
}

func timeAxis(c *canvas, x0, x1, y, from, to int) {
	span := to - from
	tick := niceTime(span)
	first := ((from + tick - 1) / tick) * tick
	for t := first; t <= to; t += tick {
		x := x0 + int(float64(t-from)/float64(span)*float64(x1-x0))
		c.vline(x, y, y+4, colAxis)
		c.text(x-12, y+18, labelTime(t, span), colAxis)
	}
}

func niceTime(span int) int {
	for _, t := range []int{300, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 48 * 3600} {
		if span/t <= 14 {
			return t
		}
	}
	return 7 * 24 * 3600
}

func labelTime(t, span int) string {
	if span >= 2*24*3600 && t%(24*3600) == 0 {
		return fmt.Sprintf("day %d", t/(24*3600))
	}
	if t%3600 == 0 {
		return fmt.Sprintf("%dh", t/3600)
	}
	return hm(t)
}

func niceStep(maxv float64, ticks int) float64 {
	raw := maxv / float64(ticks)
	mag := math.Pow(10, math.Floor(math.Log10(math.Max(raw, 1))))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return math.Max(m*mag, 1)
		}
	}
	return 10 * mag
}

func blend(a, b color.RGBA, t float64) color.RGBA {
	t = math.Min(1, math.Max(0, t))
	f := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

type canvas struct{ img *image.RGBA }

func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	draw.Draw(c.img, r, &image.Uniform{col}, image.Point{}, draw.Src)
}

func (c *canvas) vline(x, y0, y1 int, col color.RGBA) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y <= y1; y++ {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *canvas) hline(x0, x1, y int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		c.img.SetRGBA(x, y, col)
	}
}

func (c *canvas) text(x, y int, s string, col color.RGBA) {
	d := &font.Drawer{Dst: c.img, Src: &image.Uniform{col}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func (c *canvas) textRight(x, y int, s string, col color.RGBA) {
	w := font.MeasureString(basicfont.Face7x13, s).Ceil()
	c.text(x-w, y, s, col)
}
