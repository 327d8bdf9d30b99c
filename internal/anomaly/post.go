package anomaly

import "math"

// suppressor passes a score only when it beats a ceiling set by the largest
// recent score, decaying with the given half-life (in points); anything
// below the ceiling becomes 0. A burst of high scores thus yields one
// detection for any threshold the caller picks, while a clearly stronger
// score still gets through.
type suppressor struct {
	ceiling float64
	decay   float64 // per-point factor
}

func newSuppressor(halfLife float64) suppressor {
	return suppressor{decay: math.Pow(0.5, 1/math.Max(halfLife, 1e-9))}
}

func (s *suppressor) reset() { s.ceiling = 0 }

func (s *suppressor) apply(x float64) float64 {
	s.ceiling *= s.decay
	if x > s.ceiling {
		s.ceiling = x
		return x
	}
	return 0
}

// suppress applies the one-alert-per-episode policy shared by the
// detectors: during a refractory period after an alarm every score is 0;
// otherwise a score must beat the suppressor's ceiling. An alarm (a score
// of 0.5 or more) that gets through starts a new refractory period of the
// given length. The NAB scorer rewards only the first detection in a
// window and charges for every false one, and a scaling guard needs one
// signal per episode, not one per point.
func suppress(s *suppressor, refr *int, period int, score float64) float64 {
	if *refr > 0 {
		*refr--
		s.ceiling *= s.decay
		return 0
	}
	out := s.apply(score)
	if out >= 0.5 {
		*refr = period
	}
	return out
}

// evidence maps a non-negative evidence ratio x (1 = "at the alarm level")
// to a score in [0, 1): x/(1+x), 0.5 at x = 1.
func evidence(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	if math.IsInf(x, 1) {
		return 1
	}
	return x / (1 + x)
}
