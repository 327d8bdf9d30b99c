package alerting

import (
	"bytes"
	"strings"
	"testing"
)

// An alert about a stack's service (shop_web, as docker stack deploy names
// it) is an alert about an app; a pool keeps the stricter rule.
func TestDecodeStackServiceName(t *testing.T) {
	good := string(fixture(t, "alertmanager-0.25-firing.json"))
	p, err := Decode(bytes.NewReader([]byte(strings.Replace(good, `"hoist_app":"web"`, `"hoist_app":"shop_web"`, -1))))
	if err != nil || p.Alerts[0].Labels[LabelApp] != "shop_web" {
		t.Fatalf("shop_web: %v %+v", err, p)
	}
	pool := strings.Replace(good, `"hoist_app":"web"`, `"hoist_pool":"my_pool"`, -1)
	if _, err := Decode(bytes.NewReader([]byte(pool))); err == nil || !strings.Contains(err.Error(), "not a pool name") {
		t.Errorf("pool my_pool: %v", err)
	}
}
