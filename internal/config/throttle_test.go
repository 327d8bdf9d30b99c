package config

import (
	"strings"
	"testing"
)

func TestParseBitRate(t *testing.T) {
	for in, want := range map[string]BitRate{
		"3Mbit": 3e6, "3mbit": 3e6, "500kbit": 5e5, "1.5 Gbit": 15e8, "8000": 8000, "2kibit": 2048,
		"1mbps": 8e6, "100bit": 100,
	} {
		got, err := ParseBitRate(in)
		if err != nil || got != want {
			t.Errorf("%q = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "3 Mbits", "-1mbit", "NaNmbit", "1e30tbit", "mbit"} {
		if _, err := ParseBitRate(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if s := BitRate(3e6).String(); s != "3Mbit" {
		t.Errorf("String = %s", s)
	}
}

func TestThrottleSection(t *testing.T) {
	base := minimal + "    on_anomaly: throttle\n"
	cfg, err := Parse("t.yaml", []byte(base+"    throttle: {rate: 3Mbit, burst: 32KiB, for: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	th := cfg.Apps[0].Throttle
	if th == nil || th.Rate != 3e6 || th.Burst != 32<<10 || th.For.D().Minutes() != 5 {
		t.Fatalf("throttle = %+v", th)
	}
	for _, c := range []struct{ yaml, want string }{
		{"", "t.yaml:7:5: apps[0].throttle: is required with on_anomaly: throttle"},
		{"    throttle: {rate: 3Mbits}\n", "t.yaml:18:22: apps[0].throttle.rate: must be a rate"},
		{"    throttle: {for: 5m}\n", "apps[0].throttle.rate: is required"},
		{"    throttle: {rate: 1kbit}\n", "apps[0].throttle.rate: 1kbit is below 8kbit"},
		{"    throttle: {rate: 3Mbit, burst: 2GiB}\n", "apps[0].throttle.burst"},
	} {
		_, err := Parse("t.yaml", []byte(base+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, err := Parse("t.yaml", []byte(minimal+"    on_anomaly: choke\n")); err == nil || !strings.Contains(err.Error(), "hold_scale_up, alert_only, throttle") {
		t.Errorf("unknown on_anomaly: %v", err)
	}
}
