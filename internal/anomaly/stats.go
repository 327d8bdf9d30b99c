package anomaly

import "math"

// chiSquareCDF is P(X <= x) for X chi-square with k degrees of freedom: the
// regularised lower incomplete gamma P(k/2, x/2).
func chiSquareCDF(x, k float64) float64 {
	if x <= 0 {
		return 0
	}
	return gammaP(k/2, x/2)
}

// gammaP is the regularised lower incomplete gamma function, by its series
// for x < a+1 and its continued fraction otherwise (Numerical Recipes'
// textbook formulas, section 6.2).
func gammaP(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(a)
	lead := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < 500; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return math.Min(1, sum*lead)
	}
	// Lentz's method for the continued fraction of Q(a, x).
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	dd := 1 / b
	h := dd
	for n := 1; n < 500; n++ {
		an := -float64(n) * (float64(n) - a)
		b += 2
		dd = an*dd + b
		if math.Abs(dd) < tiny {
			dd = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		dd = 1 / dd
		del := dd * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Max(0, 1-lead*h)
}

// chiSquareQuantile inverts chiSquareCDF by bisection; it runs once per
// detector construction, never on the hot path.
func chiSquareQuantile(p, k float64) float64 {
	lo, hi := 0.0, 1.0
	for chiSquareCDF(hi, k) < p {
		hi *= 2
	}
	for i := 0; i < 200; i++ {
		mid := (lo + hi) / 2
		if chiSquareCDF(mid, k) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
