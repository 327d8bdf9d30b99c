package main

import (
	"strings"
	"testing"
)

// `apps throttle` sets the app's limit through the API, shows it, and
// `apps unthrottle` lifts it; a bad rate comes back naming the field.
func TestAppsThrottleVerbs(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{})
	out, err := cli(t, "apps", "throttle", "web", "--server", r.url, "--rate", "3Mbit", "--for", "5m", "--task", "t1", "--task", "t2")
	if err != nil || !strings.Contains(out, "t1, t2 limited to 3Mbit each way") {
		t.Fatalf("throttle: %v\n%s", err, out)
	}
	if out, err := cli(t, "apps", "throttle", "web", "--server", r.url); err != nil || !strings.Contains(out, "limited to 3Mbit") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := cli(t, "apps", "throttle", "web", "--server", r.url, "--rate", "fast"); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("bad rate: %v", err)
	}
	if out, err := cli(t, "apps", "unthrottle", "web", "--server", r.url); err != nil || !strings.Contains(out, "limit lifted") {
		t.Fatalf("unthrottle: %v\n%s", err, out)
	}
	if out, err := cli(t, "apps", "throttle", "web", "--server", r.url); err != nil || !strings.Contains(out, "not throttled") {
		t.Fatalf("show after lifting: %v\n%s", err, out)
	}
	if _, err := cli(t, "apps", "unthrottle", "web", "--server", r.url); err == nil {
		t.Fatal("lifting twice succeeded")
	}
}
