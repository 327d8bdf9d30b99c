package balancer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"text/template"

	"github.com/hoist/hoist/internal/config"
)

// ErrParams is returned for parameters no valid configuration can be made of.
var ErrParams = errors.New("bad balancer parameters")

// appRE is config's rule for app names ('_' for a stack's services: shop_web).
var appRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// Render returns HAProxy's configuration for p. The text depends on p only,
// so its hash names the Swarm config and a changed descriptor is seen as a
// changed configuration.
func Render(p Params) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := haproxyTmpl.Execute(&b, struct {
		Params
		Health             string
		Grace, HardStop    string
		Resolver, Template string
	}{p, HealthPath, ms(Grace.Milliseconds()), ms(HardStop.Milliseconds()), "127.0.0.11:53",
		fmt.Sprintf("tasks.%s:%d", p.App, p.BackendPort)}); err != nil {
		return nil, fmt.Errorf("render haproxy config: %w", err)
	}
	return b.Bytes(), nil
}

func ms(n int64) string { return fmt.Sprintf("%dms", n) }

func (p Params) validate() error {
	switch {
	case !appRE.MatchString(p.App):
		return fmt.Errorf("%w: app name %q", ErrParams, p.App)
	case p.Port <= 0 || p.Port > 65535, p.StatsPort <= 0 || p.StatsPort > 65535, p.Port == p.StatsPort:
		return fmt.Errorf("%w: ports %d and %d", ErrParams, p.Port, p.StatsPort)
	case p.BackendPort <= 0 || p.BackendPort > 65535:
		return fmt.Errorf("%w: app port %d", ErrParams, p.BackendPort)
	case p.Check != "" && config.CheckPath(p.Check) != nil:
		// One rule with the descriptor's validation (internal/config).
		return fmt.Errorf("%w: check path %q", ErrParams, p.Check)
	case p.Slots < 1 || p.Slots > 4096:
		return fmt.Errorf("%w: %d server slots", ErrParams, p.Slots)
	}
	switch p.Algorithm {
	case "leastconn", "roundrobin", "source", "random":
	default:
		return fmt.Errorf("%w: algorithm %q", ErrParams, p.Algorithm)
	}
	return nil
}

// ConfigName is the Swarm config's name for a balancer app and its text:
// configs are immutable, so a new text is a new config.
func ConfigName(lbApp string, text []byte) string {
	h := sha256.Sum256(text)
	return lbApp + "-" + hex.EncodeToString(h[:])[:12]
}

// The configuration, section by section, with the reason for each choice.
var haproxyTmpl = template.Must(template.New("haproxy").Parse(`# HAProxy configuration made by hoist for the balancer of {{.App}}
# (docs/balancer.md). hoist replaces it when the descriptor changes.
global
    # No maxconn: HAProxy derives it from the file descriptors it is given.
    # Stop signal SIGUSR1: "stopping" turns true at once, so {{.Health}}
    # fails and whatever is in front stops sending; the listeners stay open
    # for the grace delay, then close while requests in flight finish.
    grace {{.Grace}}
    hard-stop-after {{.HardStop}}
    stats socket /run/haproxy/admin.sock mode 600 level admin
    log stdout format raw local0 notice

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 10s
    timeout http-request 10s
    timeout http-keep-alive 5s
    # A task that went away between two DNS answers refuses the connection
    # or closes it unanswered: try again, on another server each time.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

# Docker's embedded DNS on the app's overlay network: tasks.{{.App}} is every
# running task. Asked every second; an address that leaves the answer puts
# its server in maintenance at once (Swarm removes a stopping task from DNS
# two seconds before it signals it).
resolvers docker
    nameserver docker {{.Resolver}}
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold obsolete 0s
    hold nx 5s
    hold other 5s
    hold refused 5s
    hold timeout 5s

# {{.Health}} is the replica's readiness, what the tier in front polls: 200
# only while at least one server is up (resolved, and not failed by its
# check), so a new replica takes no traffic before it can serve it; 503 from
# the stop signal on. A server leaving maintenance counts as up until its
# first check ends (at most 1s): the tier in front should want two passes a
# second or more apart before it sends to a replica (docs/balancer.md).
frontend {{.App}}
    bind :{{.Port}}
    monitor-uri {{.Health}}
    monitor fail if { stopping } || { nbsrv({{.App}}) lt 1 }
    # Only requests that did not end well are logged (at "err", above the
    # "notice" threshold), with the termination state that says why.
    option httplog
    option log-separate-errors
    default_backend {{.App}}

backend {{.App}}
    balance {{.Algorithm}}
{{- if .Check}}
    option httpchk
    http-check send meth GET uri {{.Check}} ver HTTP/1.1 hdr Host {{.App}}
{{- end}}
    default-server init-addr none resolvers docker resolve-prefer ipv4 check inter 1s fall 2 rise 1
    server-template {{.App}} {{.Slots}} {{.Template}}

# Read-only stats (CSV at /stats;csv) and the Prometheus exporter; hoist's
# metric source reads the CSV. Legends show each server's address.
frontend stats
    bind :{{.StatsPort}}
    no log
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    stats show-legends
    stats refresh 5s
`))
