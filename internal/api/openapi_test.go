package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/auth"
)

// TestOpenAPIMatchesRoutes holds the route table and openapi.json together:
// every route is described, with its role, and every description is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Role     string            `json:"x-hoist-role"`
			Security []json.RawMessage `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	e := newEnv(t, 0)
	inMux := map[string]auth.Role{}
	for _, rt := range e.srv.Routes() {
		inMux[strings.ToLower(rt.Method)+" "+rt.Pattern] = rt.Role
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := method + " " + path
			inDoc[key] = true
			role, ok := inMux[key]
			switch {
			case !ok:
				t.Errorf("openapi.json describes %s, which the server does not serve", key)
			case role == auth.RoleNone && (op.Security == nil || len(op.Security) != 0):
				t.Errorf("%s is public but openapi.json does not say security: []", key)
			case role != auth.RoleNone && op.Role != role.String():
				t.Errorf("%s needs %s, openapi.json says %q", key, role, op.Role)
			}
		}
	}
	var missing []string
	for key := range inMux {
		if !inDoc[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("route %s is not in openapi.json", k)
	}
}
