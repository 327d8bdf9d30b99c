package config

// PolicyPredictive sizes replicas and machines to a forecast of the app's
// request rate at a per-replica capacity learned from its observed rate, CPU
// and p95 latency against the app's slo (internal/policy Predict). Fields:
// target is the CPU target (percent of the limit) used while the capacity is
// still being learned (default 60); scale_down.stabilization is how long
// scale-down waits for the need to stay low (default 10m); forecast_only makes
// and records the forecast but never acts on it: replicas follow the rate now
// plus the headroom its own recent changes call for, machines the replicas.
const PolicyPredictive = "predictive"

func (p *Policy) checkPredictive(ck *checker, path string) {
	if p.Target < 0 || p.Target > 100 {
		ck.add(path+".target", "must be in (0, 100]: the CPU target while learning")
	}
	if p.Metric != "" || p.Query != "" {
		ck.add(path+".metric", "is not used by a predictive policy (it reads rps, cpu and latency_p95)")
	}
	if p.ScaleUp != nil {
		ck.add(path+".scale_up", "is not used by a predictive policy (it scales up to the forecast at once)")
	}
	if p.ScaleDown != nil && p.ScaleDown.Stabilization != nil && *p.ScaleDown.Stabilization < 0 {
		ck.add(path+".scale_down.stabilization", "must be >= 0")
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"upper", p.Upper != 0}, {"lower", p.Lower != nil}, {"windows", len(p.Windows) > 0}, {"tolerance", p.Tolerance != nil}} {
		if f.set {
			ck.add(path+"."+f.field, "is not used by a predictive policy")
		}
	}
}
