package anomaly

import "sort"

// ring is a fixed-capacity FIFO of the last values seen.
type ring struct {
	buf  []float64
	head int // index of the oldest value when full
	n    int
}

func newRing(capacity int) ring { return ring{buf: make([]float64, capacity)} }

func (r *ring) full() bool { return r.n == len(r.buf) }

// push appends v and returns the value it evicted (ok false if none).
func (r *ring) push(v float64) (old float64, ok bool) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = v
		r.n++
		return 0, false
	}
	old = r.buf[r.head]
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	return old, true
}

// at returns the i-th oldest value (0 is the oldest).
func (r *ring) at(i int) float64 { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) reset() { r.head, r.n = 0, 0 }

// sortedWindow keeps the last values of a stream in a ring and, alongside,
// sorted, so that median and MAD cost O(window) without allocating.
type sortedWindow struct {
	ring   ring
	sorted []float64 // the ring's values, ascending
}

func newSortedWindow(capacity int) sortedWindow {
	return sortedWindow{ring: newRing(capacity), sorted: make([]float64, 0, capacity)}
}

func (w *sortedWindow) len() int { return len(w.sorted) }

func (w *sortedWindow) reset() {
	w.ring.reset()
	w.sorted = w.sorted[:0]
}

// push adds v, evicting the oldest value when full.
func (w *sortedWindow) push(v float64) {
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

// quantile returns the q-quantile (0..1) by linear interpolation.
func (w *sortedWindow) quantile(q float64) float64 {
	n := len(w.sorted)
	if n == 0 {
		return 0
	}
	pos := q * float64(n-1)
	i := int(pos)
	if i >= n-1 {
		return w.sorted[n-1]
	}
	f := pos - float64(i)
	return w.sorted[i]*(1-f) + w.sorted[i+1]*f
}

func (w *sortedWindow) median() float64 { return w.quantile(0.5) }

// mad returns the median absolute deviation from m. The deviations of the
// values below m grow leftwards and those above grow rightwards, so a merge
// from m outwards finds their median in O(n) with no scratch buffer.
func (w *sortedWindow) mad(m float64) float64 {
	s := w.sorted
	n := len(s)
	if n == 0 {
		return 0
	}
	hi := sort.SearchFloat64s(s, m) // first index >= m
	lo := hi - 1
	// k-th smallest deviation, 0-based; for even n average two middle ones.
	kLo, kHi := (n-1)/2, n/2
	var a, b float64
	for k := 0; k <= kHi; k++ {
		var d float64
		if lo >= 0 && (hi >= n || m-s[lo] <= s[hi]-m) {
			d = m - s[lo]
			lo--
		} else {
			d = s[hi] - m
			hi++
		}
		if k == kLo {
			a = d
		}
		if k == kHi {
			b = d
		}
	}
	return (a + b) / 2
}
