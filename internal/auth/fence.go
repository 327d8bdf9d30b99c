package auth

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
)

// Fence refuses what a web page the operator happens to visit could make
// the browser send to hoist, with or without tokens:
//
//   - a Host that is not one of this server's names (DNS rebinding: a name
//     the attacker controls, re-pointed at 127.0.0.1, makes the attacker's
//     page same-origin with hoist). Accepted: any IP literal (a page whose
//     origin is hoist's IP:port is hoist's own), localhost and *.localhost
//     (browsers resolve them to loopback themselves), this machine's host
//     name, and the names the operator allows. A listener bound to 0.0.0.0
//     or to a host name is therefore reached by IP, by the machine's name,
//     or by an allowed name (hoist run --allowed-host NAME).
//   - a cross-site or same-site request on a route that changes something
//     (Sec-Fetch-Site, or an Origin that is not the Host): another port of
//     localhost is same-site but not hoist.
//   - a body that is not declared application/json on such a route: a
//     no-cors form or text/plain POST needs no CORS preflight, JSON does.
type Fence struct {
	hosts map[string]bool
	csrf  *http.CrossOriginProtection
}

// NewFence accepts, beyond IP literals and loopback names, the host names
// in allowed (case-insensitive, without port); nil allowed means this
// machine's host name (os.Hostname).
func NewFence(allowed []string) *Fence {
	if allowed == nil {
		if h, err := os.Hostname(); err == nil && h != "" {
			allowed = []string{h}
		}
	}
	f := &Fence{hosts: map[string]bool{}, csrf: http.NewCrossOriginProtection()}
	for _, h := range allowed {
		if h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), "."); h != "" {
			f.hosts[h] = true
		}
	}
	return f
}

// FenceError is why a request was refused.
type FenceError struct {
	Status  int
	Code    string
	Message string
}

func (e *FenceError) Error() string { return e.Message }

// Check returns nil for a request the fence lets through.
func (f *Fence) Check(r *http.Request) *FenceError {
	if err := f.checkHost(r.Host); err != nil {
		return err
	}
	if !mutating(r.Method) {
		return nil
	}
	if err := f.csrf.Check(r); err != nil {
		return &FenceError{http.StatusForbidden, "cross_origin",
			"a cross-site request may not change anything (" + err.Error() + ")"}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			return nil
		}
		return &FenceError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			"a request body must be sent with Content-Type: application/json"}
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &FenceError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %.100q is not accepted: send application/json", ct)}
	}
	return nil
}

// Wrap lets through to next only what Check accepts; refusals are the
// API's JSON error.
func (f *Fence) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f.Check(r); err != nil {
			writeError(w, err.Status, err.Code, err.Message)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func (f *Fence) checkHost(hostport string) *FenceError {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	switch {
	case host == "":
		return &FenceError{http.StatusBadRequest, "bad_host", "a Host header is required"}
	case net.ParseIP(host) != nil,
		host == "localhost", strings.HasSuffix(host, ".localhost"),
		f.hosts[host]:
		return nil
	}
	return &FenceError{http.StatusMisdirectedRequest, "host_not_allowed", fmt.Sprintf(
		"host %.100q is not a name of this server (reach it by IP, localhost or its host name, or allow the name with --allowed-host)", host)}
}
