package bench

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestMeasureHandMade(t *testing.T) {
	tests := []struct {
		name           string
		demand, supply []int32
		want           Elasticity
	}{
		{
			// Supply climbs past a flat demand: under at t0, exact at t1, over by 1 and 2.
			name:   "climb past flat demand",
			demand: []int32{2, 2, 2, 2}, supply: []int32{1, 2, 3, 4},
			want: Elasticity{ThetaU: 100.0 / 4 * (1.0 / 2), ThetaO: 100.0 / 4 * (1.0/2 + 2.0/2), TauU: 25, TauO: 50,
				Instability: 100, Jitter: 3 / (4.0 / 3600), MeanDemand: 2, MeanSupply: 2.5},
		},
		{
			// Supply lags demand by one sample.
			name:   "one sample late",
			demand: []int32{1, 2, 3, 2, 1}, supply: []int32{1, 1, 2, 3, 2},
			want: Elasticity{ThetaU: 100.0 / 5 * (1.0/2 + 1.0/3), ThetaO: 100.0 / 5 * (1.0/2 + 1.0/1), TauU: 40, TauO: 40,
				// Δd = + + - -, Δs = 0 + + -: they differ at the 1st and 3rd change.
				Instability: 50, Jitter: (3 - 4) / (5.0 / 3600), MeanDemand: 9.0 / 5, MeanSupply: 9.0 / 5},
		},
		{
			name:   "perfect",
			demand: []int32{3, 4, 4, 2}, supply: []int32{3, 4, 4, 2},
			want: Elasticity{MeanDemand: 13.0 / 4, MeanSupply: 13.0 / 4},
		},
		{
			// Demand 0 counts as 1 in the accuracy's denominator.
			name:   "zero demand",
			demand: []int32{0, 0}, supply: []int32{1, 0},
			want: Elasticity{ThetaO: 100.0 / 2 * 1, TauO: 50, Instability: 100, Jitter: 1 / (2.0 / 3600), MeanSupply: 0.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Measure(tt.demand, tt.supply, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			pairs := []struct {
				name      string
				got, want float64
			}{
				{"theta_u", got.ThetaU, tt.want.ThetaU}, {"theta_o", got.ThetaO, tt.want.ThetaO},
				{"tau_u", got.TauU, tt.want.TauU}, {"tau_o", got.TauO, tt.want.TauO},
				{"instability", got.Instability, tt.want.Instability}, {"jitter", got.Jitter, tt.want.Jitter},
				{"mean demand", got.MeanDemand, tt.want.MeanDemand}, {"mean supply", got.MeanSupply, tt.want.MeanSupply},
			}
			for _, p := range pairs {
				if !near(p.got, p.want) {
					t.Errorf("%s = %v, want %v", p.name, p.got, p.want)
				}
			}
		})
	}
}

func TestMeasureStepScalesJitter(t *testing.T) {
	// The same series sampled every 10 s spans 10 times as long: jitter per
	// hour is a tenth; the shares do not change.
	d, s := []int32{1, 2, 3, 2, 1}, []int32{1, 1, 2, 3, 2}
	a, _ := Measure(d, s, time.Second)
	b, _ := Measure(d, s, 10*time.Second)
	if !near(b.Jitter, a.Jitter/10) || !near(a.ThetaU, b.ThetaU) || !near(a.TauO, b.TauO) {
		t.Errorf("1s: %+v\n10s: %+v", a, b)
	}
}

func TestMeasureRejectsBadSeries(t *testing.T) {
	for _, c := range []struct{ d, s []int32 }{{nil, nil}, {[]int32{1}, []int32{1, 2}}} {
		if _, err := Measure(c.d, c.s, time.Second); !errors.Is(err, ErrSeries) {
			t.Errorf("Measure(%v, %v) = %v, want ErrSeries", c.d, c.s, err)
		}
	}
	if _, err := Measure([]int32{1}, []int32{1}, 0); !errors.Is(err, ErrSeries) {
		t.Errorf("step 0: %v, want ErrSeries", err)
	}
}

func TestSpeedup(t *testing.T) {
	base := Elasticity{ThetaU: 4, ThetaO: 20, TauU: 10, TauO: 60}
	half := Elasticity{ThetaU: 2, ThetaO: 10, TauU: 5, TauO: 30}
	// Mixed: better on under-provisioning by 4, worse on over-provisioning by 4: a draw.
	mixed := Elasticity{ThetaU: 1, ThetaO: 80, TauU: 2.5, TauO: 240}
	one := Elasticity{ThetaU: 1, ThetaO: 1, TauU: 1, TauO: 1}
	// Never under-provisioned (θ_U = τ_U = 0), over-provisioned like one.
	overOnly := Elasticity{ThetaO: 1, TauO: 1}
	tiny := Elasticity{ThetaU: 0.01, ThetaO: 1, TauU: 0.01, TauO: 1}
	for _, tc := range []struct {
		name    string
		base, k Elasticity
		want    float64 // NaN: undefined
	}{
		{"self", base, base, 1},
		{"twice as good", base, half, 2},
		{"twice as bad", half, base, 0.5},
		{"mixed", base, mixed, 1},
		// No floor: a hundredth of a point against one point is a ratio of 100.
		{"small under-provisioning counts", one, tiny, 10},
		// Zeros: both 0 is a ratio of 1; the other metrics decide.
		{"both never under", overOnly, Elasticity{ThetaO: 0.5, TauO: 0.5}, math.Sqrt2},
		{"perfect against perfect", Elasticity{}, Elasticity{}, 1},
		{"policy alone perfect on a metric", one, overOnly, math.Inf(1)},
		{"baseline alone perfect on a metric", overOnly, one, 0},
		{"infinite and zero ratios", Elasticity{ThetaU: 1, TauU: 1}, Elasticity{ThetaO: 1, TauO: 1}, math.NaN()},
	} {
		got := float64(Speedup(tc.base, tc.k))
		switch {
		case math.IsNaN(tc.want):
			if !math.IsNaN(got) {
				t.Errorf("%s: speedup %v, want undefined (NaN)", tc.name, got)
			}
		case math.IsInf(tc.want, 1):
			if !math.IsInf(got, 1) {
				t.Errorf("%s: speedup %v, want +Inf", tc.name, got)
			}
		case !near(got, tc.want):
			t.Errorf("%s: speedup %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRatioJSON(t *testing.T) {
	for _, tc := range []struct {
		r    Ratio
		json string
		str  string
	}{
		{1.25, "1.25", "1.25"},
		{0, "0", "0.00"},
		{Ratio(math.Inf(1)), `"+Inf"`, "∞"},
		{Ratio(math.NaN()), `"NaN"`, "undefined"},
	} {
		b, err := json.Marshal(Speedups{Replicas: tc.r})
		if err != nil {
			t.Fatalf("%v: %v", tc.r, err)
		}
		want := `{"replicas":` + tc.json + `,"machines":0}`
		if string(b) != want {
			t.Errorf("%v: JSON %s, want %s", tc.r, b, want)
		}
		var back Speedups
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if back.Replicas.String() != tc.str || tc.r.String() != tc.str {
			t.Errorf("%v: round trip %v, String %q, want %q", tc.r, back.Replicas, tc.r.String(), tc.str)
		}
	}
	var r Ratio
	if err := json.Unmarshal([]byte(`"fast"`), &r); err == nil {
		t.Error(`"fast" decoded without error`)
	}
}
