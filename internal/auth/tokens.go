// Package auth secures hoist's control plane: bearer tokens with roles, a
// limit on failed attempts per client, TLS certificates, and the rule that
// only a loopback listener may go without them.
package auth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is what a token may do.
type Role int

// Roles. Viewer, operator and admin are ordered: each may do what the ones
// before it may. Webhook is apart: it may only post alerts.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
	RoleWebhook
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	case RoleWebhook:
		return "webhook"
	}
	return "none"
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	case "webhook":
		return RoleWebhook, nil
	}
	return RoleNone, fmt.Errorf("%w %q (viewer, operator, admin or webhook)", ErrUnknownRole, s)
}

// Allows reports whether a holder of r may act where need is required.
func (r Role) Allows(need Role) bool {
	if need == RoleWebhook || r == RoleWebhook {
		return r == need
	}
	return r >= need && need > RoleNone
}

// Errors of token files.
var (
	ErrUnknownRole = errors.New("unknown role")
	ErrWeakToken   = errors.New("token shorter than 16 characters")
	ErrBadTokens   = errors.New("bad tokens file")
)

// MinTokenLen is the shortest token accepted: guessing must stay hopeless
// even before the rate limit.
const MinTokenLen = 16

type entry struct {
	hash [sha256.Size]byte
	role Role
}

// Tokens are the accepted tokens, kept only as SHA-256 hashes.
type Tokens struct{ entries []entry }

// ParseTokens reads one "ROLE TOKEN" a line; blank lines and lines starting
// with # are skipped. Errors name the line, never the token.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want 'ROLE TOKEN': %w", n, ErrBadTokens)
		}
		role, err := ParseRole(f[0])
		if err != nil {
			// Not the word itself: a line written TOKEN ROLE would put
			// the token in the error, and the error in a log.
			return nil, fmt.Errorf("line %d: want 'ROLE TOKEN' with ROLE one of viewer, operator, admin, webhook: %w", n, ErrUnknownRole)
		}
		if len(f[1]) < MinTokenLen {
			return nil, fmt.Errorf("line %d: %w", n, ErrWeakToken)
		}
		h := sha256.Sum256([]byte(f[1]))
		if seen[h] {
			return nil, fmt.Errorf("line %d: token repeated: %w", n, ErrBadTokens)
		}
		seen[h] = true
		t.entries = append(t.entries, entry{h, role})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("no token: %w", ErrBadTokens)
	}
	return t, nil
}

// LoadTokens reads a tokens file. A file others may read is accepted with a
// warning: refusing it would only push operators to worse places.
func LoadTokens(path string, log *slog.Logger) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 && log != nil {
		log.Warn("tokens file is readable by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("tokens %s: %w", path, err)
	}
	return t, nil
}

// Lookup returns the role of token. Every stored hash is compared, in
// constant time, so the time taken says nothing about which one (if any)
// nearly matched.
func (t *Tokens) Lookup(token string) (Role, bool) {
	role, _, ok := t.lookup(token)
	return role, ok
}

// lookup also returns who holds the token: a short name derived from its
// hash, the same for every request with it and revealing nothing of it.
func (t *Tokens) lookup(token string) (Role, string, bool) {
	h := sha256.Sum256([]byte(token))
	role := RoleNone
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			role = e.role
		}
	}
	return role, "token:" + hex.EncodeToString(h[:6]), role != RoleNone
}

// Len is how many tokens there are.
func (t *Tokens) Len() int { return len(t.entries) }

// Has reports whether some token has role r.
func (t *Tokens) Has(r Role) bool {
	for _, e := range t.entries {
		if e.role == r {
			return true
		}
	}
	return false
}

type ctxKey struct{}

type principalKey struct{}

// RoleFrom returns the role a request was authenticated with.
func RoleFrom(ctx context.Context) Role {
	r, _ := ctx.Value(ctxKey{}).(Role)
	return r
}

// PrincipalFrom names who made an authenticated request, for per-client
// limits: "token:" and a digest of the token, or in open mode "client:" and
// the client's address (ClientKey). Empty when the request did not pass an
// Authenticator.
func PrincipalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// WithRole returns ctx carrying role r (tests, internal calls).
func WithRole(ctx context.Context, r Role) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// Options configure an Authenticator.
type Options struct {
	// Burst failed attempts are allowed per client address, then one per
	// Every (defaults 10 and 3s).
	Burst int
	Every time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Authenticator checks bearer tokens on requests.
type Authenticator struct {
	mu      sync.RWMutex
	tokens  *Tokens // nil: open (loopback without a tokens file)
	limiter *Limiter
	log     *slog.Logger
}

// New returns an authenticator for tokens; with nil tokens every request is
// let through as admin (hoist refuses that beyond loopback).
func New(tokens *Tokens, opt Options) *Authenticator {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{tokens: tokens, limiter: NewLimiter(opt.Burst, opt.Every, opt.Now), log: opt.Log}
}

// Open reports whether no token is required.
func (a *Authenticator) Open() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tokens == nil
}

// SetTokens swaps the tokens (reload).
func (a *Authenticator) SetTokens(t *Tokens) {
	a.mu.Lock()
	a.tokens = t
	a.mu.Unlock()
}

// Require lets a request through to next only with a token whose role allows need.
func (a *Authenticator) Require(need Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, who, ok := a.check(w, r, need)
		if !ok {
			return
		}
		ctx := context.WithValue(WithRole(r.Context(), role), principalKey{}, who)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Webhook guards the Alertmanager webhook: only a token of role webhook is
// accepted (configure Alertmanager's http_config.authorization.credentials
// with it), so an API token leaked from a dashboard cannot post alerts and
// the webhook's token cannot drive the API. Without tokens (open mode) every
// request is refused: the webhook scales the cluster and is never open.
func (a *Authenticator) Webhook(next http.Handler) http.Handler {
	return a.Require(RoleWebhook, next)
}

func (a *Authenticator) check(w http.ResponseWriter, r *http.Request, need Role) (Role, string, bool) {
	a.mu.RLock()
	tokens := a.tokens
	a.mu.RUnlock()
	addr := ClientKey(r)
	if tokens == nil {
		if need == RoleWebhook {
			writeError(w, http.StatusServiceUnavailable, "no_credential", "the alert webhook has no credential configured (prometheus.webhook, or a webhook token in --tokens)")
			return RoleNone, "", false
		}
		return RoleAdmin, "client:" + addr, true
	}
	if wait := a.limiter.Wait(addr); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many failed authentication attempts from this address; retry later")
		return RoleNone, "", false
	}
	token, found := bearer(r)
	if !found {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hoist"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "a bearer token is required (Authorization: Bearer TOKEN)")
		return RoleNone, "", false
	}
	role, who, ok := tokens.lookup(token)
	if !ok {
		a.limiter.Fail(addr)
		a.log.Warn("rejected token", "client", ClientAddr(r), "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="hoist", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "the token is not valid")
		return RoleNone, "", false
	}
	if !role.Allows(need) {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not do this (needs %s)", role, need))
		return RoleNone, "", false
	}
	return role, who, true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// ClientAddr is the request's peer address without the port. Forwarding
// headers are ignored: they are the client's to forge.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientKey is the client a request counts as for limits: its peer address,
// except that every loopback address is one client (a local process can use
// all of 127.0.0.0/8) and an IPv6 address counts by its /64 (what one site
// or host is usually given).
func ClientKey(r *http.Request) string { return AddrKey(ClientAddr(r)) }

// AddrKey is ClientKey for an address without port.
func AddrKey(addr string) string {
	ip := net.ParseIP(addr)
	switch {
	case ip == nil:
		return addr
	case ip.IsLoopback():
		return "loopback"
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// writeError writes the API's error shape: {"error":{"code":..,"message":..}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
