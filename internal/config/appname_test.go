package config

import (
	"strings"
	"testing"
)

// An app may be named as `docker stack deploy` names a stack's services
// (STACK_SERVICE); pools keep the stricter rule (their names become node
// labels' values and machines' host names).
func TestAppNames(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"web", true},
		{"shop_web", true},
		{"shop_web-2", true},
		{"a_b_c", true},
		{"Shop_web", false},
		{"_web", false},
		{"web_", false},
		{"web.1", false},
		{"web app", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(minimal, "name: web", "name: "+c.name, 1)
			_, err := Parse("n.yaml", []byte(doc))
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "apps[0].name:") || !strings.Contains(err.Error(), "'_'")) {
				t.Errorf("want apps[0].name refused naming the rule, got %v", err)
			}
		})
	}
	_, err := Parse("n.yaml", []byte(strings.Replace(minimal, "name: workers", "name: my_pool", 1)))
	if err == nil || !strings.Contains(err.Error(), "pools[0].name") {
		t.Errorf("pool my_pool: %v", err)
	}
}
