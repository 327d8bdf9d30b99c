package anomaly

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

// push adds v, evicting the oldest value when full. A full window's
// evicted value is replaced in place, moving only the values between the
// two one slot (rather than all above the one, then all above the other):
// the same slots as removing it, then inserting v (at the first slot not
// below v), so signed zeros stay where they were.
func (w *sortedWindow) push(v float64) {
	old, ok := w.ring.push(v)
	if !ok {
		i := lowerBound(w.sorted, v)
		w.sorted = w.sorted[:len(w.sorted)+1]
		copy(w.sorted[i+1:], w.sorted[i:])
		w.sorted[i] = v
		return
	}
	s := w.sorted
	i, j := lowerBound(s, old), lowerBound(s, v)
	if j > i {
		j-- // its slot once old is out
		copy(s[i:j], s[i+1:j+1])
	} else {
		copy(s[j+1:i+1], s[j:i])
	}
	s[j] = v
}

// lowerBound is the first index i with s[i] >= v (len(s) if none), as
// sort.SearchFloat64s, without its closure call per probe. Not
// slices.BinarySearch: it orders NaN first, and a KNN's calibration window
// can take a NaN non-conformity (distances of values near the float range
// overflow), where the two would put it in different slots.
func lowerBound(s []float64, v float64) int {
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
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
// values below m grow leftwards and those above grow rightwards: two sorted
// runs, whose middle ones are found by bisection in O(log n) (a merge from m
// outwards walked half the window, every value of every stream).
func (w *sortedWindow) mad(m float64) float64 {
	s := w.sorted
	n := len(s)
	if n == 0 {
		return 0
	}
	mid := lowerBound(s, m) // first index >= m
	// For even n, the average of the two middle ones.
	return (kthDeviation(s, m, mid, (n-1)/2) + kthDeviation(s, m, mid, n/2)) / 2
}

// kthDeviation is the k-th smallest (0-based) deviation from m of the
// sorted s, mid being its first index >= m: m-s[mid-1-i] is the i-th
// smallest of those below, s[mid+j]-m the j-th of the others.
func kthDeviation(s []float64, m float64, mid, k int) float64 {
	below := func(i int) float64 { return m - s[mid-1-i] }
	above := func(j int) float64 { return s[mid+j] - m }
	// Of the k+1 smallest, i come from below and k+1-i from above: the
	// least i whose next one below is not smaller than the last one above.
	t := k + 1
	lo, hi := max(0, t-(len(s)-mid)), min(t, mid)
	for lo < hi {
		i := int(uint(lo+hi) >> 1)
		if j := t - i; j > 0 && above(j-1) > below(i) {
			lo = i + 1
		} else {
			hi = i
		}
	}
	i, j := lo, t-lo
	switch {
	case i == 0:
		return above(j - 1)
	case j == 0:
		return below(i - 1)
	}
	a, b := below(i-1), above(j-1)
	if a > b {
		return a
	}
	return b
}
