package config

import (
	"strings"
	"testing"
)

func TestAnomalyStreams(t *testing.T) {
	ok := "controller:\n  anomaly:\n    streams:\n      net_rx: {detector: robustz, warmup: 20}\n      net_tx: {warmup: 30}\n" + minimal
	cfg, err := Parse("a.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Controller.Anomaly
	if a.StreamDetector("net_rx") != "robustz" || a.StreamDetector("net_tx") != "default" || a.StreamDetector("cpu") != "default" {
		t.Errorf("detectors %q %q %q", a.StreamDetector("net_rx"), a.StreamDetector("net_tx"), a.StreamDetector("cpu"))
	}
	if a.Streams["net_tx"].Warmup != 30 {
		t.Errorf("streams = %+v", a.Streams)
	}
	for _, c := range []struct{ yaml, want string }{
		{"bytes: {warmup: 20}", "a.yaml:4:14: controller.anomaly.streams.bytes: unknown stream (known: rps, cpu, net_rx, net_tx)"},
		{"net_rx: {detector: knn, warmup: 20}", "controller.anomaly.streams.net_rx.warmup: detector \"knn\" has no settable warm-up"},
		{"net_rx: {detector: nope}", "controller.anomaly.streams.net_rx.detector: unknown detector \"nope\""},
		{"net_rx: {warmup: 3}", "controller.anomaly.streams.net_rx.warmup: warm-up 3 is below 8 values"},
		{"net_rx: {warmup: -1}", "controller.anomaly.streams.net_rx.warmup: must be between 8 and 100000"},
	} {
		_, err := Parse("a.yaml", []byte("controller:\n  anomaly:\n    streams:\n      "+c.yaml+"\n"+minimal))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
