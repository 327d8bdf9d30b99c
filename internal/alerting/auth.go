package alerting

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/prom"
)

// ErrNoCredential is returned by Guard for an empty credential: the webhook
// scales the cluster and is never left open by accident.
var ErrNoCredential = errors.New("the alert webhook needs a credential (prometheus.webhook: bearer_token_file, or username and password_file)")

// ErrWeakCredential is returned by Guard for a token or password shorter
// than the API's tokens may be (auth.MinTokenLen).
var ErrWeakCredential = fmt.Errorf("the alert webhook's token or password is shorter than %d characters", auth.MinTokenLen)

// Guard lets through to h only requests that carry the webhook's own
// credential (a bearer token, or basic auth), configured apart from the API's
// tokens: Alertmanager's secret cannot drive the API, nor an API token post
// alerts. Secret files are read on each request, so rotating one needs no
// restart. The credential follows the API tokens' rules: at least
// auth.MinTokenLen characters (ErrWeakCredential), and failed attempts
// limited per client (auth.ClientKey), then 429.
func Guard(cred config.HTTPAuth, h http.Handler) (http.Handler, error) {
	return GuardWith(cred, auth.NewLimiter(0, 0, nil), h)
}

// GuardWith is Guard with the limiter of failed attempts given (tests,
// or one limiter shared with the API's).
func GuardWith(cred config.HTTPAuth, limit *auth.Limiter, h http.Handler) (http.Handler, error) {
	want := func() (string, error) { return expected(cred) }
	if _, err := want(); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := auth.ClientKey(r)
		if wait := limit.Wait(client); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many failed attempts from this address; retry later"})
			return
		}
		exp, err := want()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "webhook credential unusable: " + err.Error()})
			return
		}
		got := r.Header.Get("Authorization")
		// Compare digests: constant time, and no length leak.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(exp))
		if got == "" || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			if got != "" {
				limit.Fail(client)
			}
			if cred.Username != "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="hoist alerts"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hoist alerts"`)
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the webhook credential is missing or wrong"})
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}

// expected is the Authorization header a request must carry.
func expected(c config.HTTPAuth) (string, error) {
	switch {
	case c.BearerToken != "":
		return bearer(c.BearerToken)
	case c.BearerTokenFile != "":
		t, err := prom.ReadSecret(c.BearerTokenFile)
		if err != nil {
			return "", fmt.Errorf("webhook bearer_token_file: %w", err)
		}
		return bearer(t)
	case c.Username != "":
		pw := c.Password
		if c.PasswordFile != "" {
			p, err := prom.ReadSecret(c.PasswordFile)
			if err != nil {
				return "", fmt.Errorf("webhook password_file: %w", err)
			}
			pw = p
		}
		if pw == "" || strings.ContainsAny(c.Username, ":") {
			return "", ErrNoCredential
		}
		if len(pw) < auth.MinTokenLen {
			return "", ErrWeakCredential
		}
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(c.Username, pw)
		return r.Header.Get("Authorization"), nil
	}
	return "", ErrNoCredential
}

func bearer(token string) (string, error) {
	if len(token) < auth.MinTokenLen {
		return "", ErrWeakCredential
	}
	return "Bearer " + token, nil
}
