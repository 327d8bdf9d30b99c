package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestEveryRouteIsFenced: over the runtime's real listener, a rebound Host
// name is refused on the API, /metrics and the dashboard alike, an allowed
// name and the loopback address are served, and a cross-site change is
// refused in open mode.
func TestEveryRouteIsFenced(t *testing.T) {
	r := startRuntime(t, nil, runtimeOptions{AllowedHosts: []string{"hoist.example"}})
	get := func(method, path, host string, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, r.url+path, strings.NewReader(`{"name":"miner","image":"attacker/miner","pools":["workers"]}`))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/v1/health", "/metrics", "/"} {
		if code, body := get("GET", path, "evil.example", nil); code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s as evil.example: %d %.200s", path, code, body)
		}
		if code, body := get("GET", path, "hoist.example:80", nil); code != 200 {
			t.Errorf("GET %s as an allowed name: %d %.200s", path, code, body)
		}
		if code, body := get("GET", path, "", nil); code != 200 {
			t.Errorf("GET %s by address: %d %.200s", path, code, body)
		}
	}
	if code, body := get("POST", "/v1/apps", "", map[string]string{"Content-Type": "text/plain"}); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain deploy: %d %.200s", code, body)
	}
	if code, body := get("POST", "/v1/apps", "", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site deploy: %d %.200s", code, body)
	}
	if code, body := get("POST", "/v1/apps", "", map[string]string{"Content-Type": "application/json"}); code != http.StatusCreated {
		t.Errorf("the operator's deploy: %d %.200s", code, body)
	}
}
