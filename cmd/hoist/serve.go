package main

// The control plane of `hoist run`: durable state under --data (machine
// records, events, registered apps, policy overrides), the /v1 API on
// --listen with tokens and TLS, and reload on SIGHUP.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// Flags of this file, kept in runOptions.extra.
const (
	flagTLSCert    = "tls-cert"
	flagTLSKey     = "tls-key"
	flagSelfSigned = "tls-self-signed"
	flagInsecure   = "insecure-allow-remote-plaintext"
	flagRetention  = "event-retention"
	flagMaxAge     = "event-max-age"
)

// appChangeHooks run after an app is deployed, has its policy changed, or is
// deleted through the API (per-app Prometheus rules append here).
var appChangeHooks []func(ctx context.Context, rt *Runtime, c api.AppChange) error

// apiOptionHooks complete the API's options before the server is made (the
// dashboard's time series recorder).
var apiOptionHooks []func(rt *Runtime, o *api.Options)

// listenHooks are told the server's base URL once it listens (the dashboard
// prints its address).
var listenHooks []func(rt *Runtime, base string, w io.Writer)

// serviceRemover gives the API what deletes an app's service: the simulated
// cluster here; the real runtime extends it with its orchestrator.
var serviceRemover = func(rt *Runtime) api.ServiceRemover {
	if rt.Sim != nil {
		return rt.Sim.Cluster
	}
	return nil
}

func init() {
	runFlags = append(runFlags, addServeFlags)
	simHooks = append(simHooks, simDurable)
	runHooks = append(runHooks, serve)
}

// extraValue is a flag stored as text in runOptions.extra, checked on Set.
type extraValue struct {
	m     map[string]string
	name  string
	check func(string) error
	kind  string
}

func (v *extraValue) String() string { return v.m[v.name] }
func (v *extraValue) Type() string   { return v.kind }
func (v *extraValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	v.m[v.name] = s
	return nil
}

func addServeFlags(f *pflag.FlagSet, opt *runOptions) {
	str := func(name, usage string) {
		f.Var(&extraValue{m: opt.extra, name: name, kind: "string"}, name, usage)
	}
	boolean := func(name, usage string) {
		f.Var(&extraValue{m: opt.extra, name: name, kind: "bool", check: func(s string) error {
			_, err := strconv.ParseBool(s)
			return err
		}}, name, usage)
		f.Lookup(name).NoOptDefVal = "true"
	}
	str(flagTLSCert, "TLS certificate (PEM) for --listen")
	str(flagTLSKey, "TLS private key (PEM) for --listen")
	boolean(flagSelfSigned, "serve TLS with a self-signed certificate kept in --data (automatic beyond loopback)")
	boolean(flagInsecure, "allow --listen beyond loopback without TLS or tokens (INSECURE: anyone on the network controls hoist)")
	f.Var(&extraValue{m: opt.extra, name: flagRetention, kind: "int", check: func(s string) error {
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = errors.New("must be >= 0")
		}
		return err
	}}, flagRetention, "events kept under --data (0: no bound) (default 100000)")
	f.Var(&extraValue{m: opt.extra, name: flagMaxAge, kind: "duration", check: func(s string) error {
		_, err := time.ParseDuration(s)
		return err
	}}, flagMaxAge, "events older than this are dropped under --data (0: no bound) (default 720h)")
}

func extraBool(opt *runOptions, name string) bool {
	b, _ := strconv.ParseBool(opt.extra[name])
	return b
}

// durable is hoist's state for one run: on disk under --data, or in memory.
type durable struct {
	bolt    *store.Bolt // nil without --data
	log     api.EventLog
	catalog *api.Catalog
	base    *config.Config // the descriptor before policy overrides
	tee     *teeRecorder
}

var (
	durablesMu sync.Mutex
	durables   = map[*Runtime]*durable{}
	auths      = map[*Runtime]*auth.Authenticator{}
)

// openDurable opens the state for cfg and applies the stored policy
// overrides to cfg in place (the descriptor as read stays in d.base). A
// runtime other than the simulator uses it as simDurable does: d.bolt (when
// set) as engine.Store, d.tee as Recorder, d.catalog.ExtraApps as ExtraApps,
// then d.attach(rt) and d.close() at the end.
func openDurable(ctx context.Context, cfg *config.Config, opt *runOptions) (*durable, error) {
	d := &durable{}
	var reg api.Registry = api.NewMemoryRegistry()
	if opt.data != "" {
		ret := store.Retention{MaxEvents: 100_000, MaxAge: 720 * time.Hour}
		if v, ok := opt.extra[flagRetention]; ok {
			ret.MaxEvents, _ = strconv.Atoi(v)
		}
		if v, ok := opt.extra[flagMaxAge]; ok {
			ret.MaxAge, _ = time.ParseDuration(v)
		}
		b, err := store.OpenBolt(opt.data, store.BoltOptions{Retention: ret, Logger: slog.Default()})
		if err != nil {
			return nil, err
		}
		d.bolt, d.log, reg = b, b, b
		d.tee = &teeRecorder{primary: b}
	}
	cat, err := api.NewCatalog(ctx, reg)
	if err != nil {
		d.close()
		return nil, err
	}
	d.catalog = cat
	base := *cfg
	d.base = &base
	*cfg = *cat.Effective(&base)
	return d, nil
}

// simDurable wires the state into the simulated stack.
func simDurable(cfg *config.Config, opt *runOptions, so *sim.StackOptions) (func(*Runtime), func(), error) {
	d, err := openDurable(context.Background(), cfg, opt)
	if err != nil {
		return nil, nil, err
	}
	if d.bolt != nil {
		so.Store, so.Recorder = d.bolt, d.tee
	}
	so.ExtraApps = d.catalog.ExtraApps
	return d.attach, d.close, nil
}

// attach completes the state once the runtime exists.
func (d *durable) attach(rt *Runtime) {
	if d.tee != nil {
		d.tee.setMirror(rt.Events)
	} else {
		d.log = api.MemoryLog{Memory: rt.Events}
	}
	durablesMu.Lock()
	durables[rt] = d
	durablesMu.Unlock()
}

func (d *durable) close() {
	if d.bolt != nil {
		if err := d.bolt.Close(); err != nil {
			slog.Error("closing the data store", "err", err)
		}
	}
}

// teeRecorder records into the durable log (which numbers events) and then
// into the runtime's in-memory log, which the terminal and other features
// follow (it numbers its copies itself).
type teeRecorder struct {
	primary *store.Bolt
	mu      sync.Mutex
	mirror  *events.Memory
}

func (t *teeRecorder) setMirror(m *events.Memory) {
	t.mu.Lock()
	t.mirror = m
	t.mu.Unlock()
}

func (t *teeRecorder) Record(e events.Event) events.Event {
	e = t.primary.Record(e)
	t.mu.Lock()
	m := t.mirror
	t.mu.Unlock()
	if m != nil {
		m.Record(e)
	}
	return e
}

// runtimeAuth is the authenticator of rt's server, for routes other features
// mount (the Alertmanager webhook wraps its handler with Webhook); nil when
// rt serves nothing.
func runtimeAuth(rt *Runtime) *auth.Authenticator {
	durablesMu.Lock()
	defer durablesMu.Unlock()
	return auths[rt]
}

// serve runs the API (when --listen is set) and reloads on SIGHUP.
func serve(ctx context.Context, rt *Runtime, opt *runOptions, w io.Writer) error {
	log := slog.Default()
	durablesMu.Lock()
	d := durables[rt]
	durablesMu.Unlock()
	defer func() {
		durablesMu.Lock()
		delete(auths, rt)
		delete(durables, rt)
		durablesMu.Unlock()
	}()
	if d == nil {
		// A runtime that did not wire durable state: serve its in-memory log.
		// Apps registered here reach its engine only through openDurable.
		cat, err := api.NewCatalog(ctx, api.NewMemoryRegistry())
		if err != nil {
			return err
		}
		d = &durable{log: api.MemoryLog{Memory: rt.Events}, catalog: cat, base: rt.Engine.Config()}
	}
	tokens, authn, err := loadAuth(opt, log)
	if err != nil {
		return err
	}
	now := time.Now
	if rt.Sim != nil {
		now = rt.Sim.Cluster.Now
	}
	var onChange []func(context.Context, api.AppChange) error
	for _, h := range appChangeHooks {
		onChange = append(onChange, func(ctx context.Context, c api.AppChange) error { return h(ctx, rt, c) })
	}
	o := api.Options{
		Engine: rt.Engine, Events: d.log, Catalog: d.catalog, Services: serviceRemover(rt),
		Auth: authn, Base: d.base, Now: now, Logger: log, OnAppChange: onChange,
		Load: func(context.Context) (*config.Config, error) { return loadConfig(opt.config) },
	}
	if opt.tokens != "" {
		o.Tokens = func() (*auth.Tokens, error) { return auth.LoadTokens(opt.tokens, log) }
	}
	for _, h := range apiOptionHooks {
		h(rt, &o)
	}
	srv, err := api.New(o)
	if err != nil {
		return err
	}
	defer srv.Close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				res, err := srv.Reload(ctx)
				if err != nil {
					fmt.Fprintf(w, "hoist: reload refused, nothing changed: %v\n", err)
					continue
				}
				fmt.Fprintf(w, "hoist: reloaded %s (%d warnings)\n", res.File, len(res.Warnings))
				for _, wr := range res.Warnings {
					fmt.Fprintln(w, "hoist: warning:", wr)
				}
			}
		}
	}()

	if opt.listen == "" {
		<-ctx.Done()
		return nil
	}
	tlsCfg, scheme, note, err := serverTLS(opt)
	if err != nil {
		return err
	}
	insecure := extraBool(opt, flagInsecure)
	if err := auth.CheckListen(opt.listen, tlsCfg != nil, tokens != nil, insecure); err != nil {
		return err
	}
	if !auth.IsLoopback(opt.listen) && (tlsCfg == nil || tokens == nil) {
		log.Warn("API reachable from the network without TLS or tokens (--" + flagInsecure + ")")
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	durablesMu.Lock()
	auths[rt] = authn
	durablesMu.Unlock()
	for _, route := range httpRoutes {
		route(rt, mux)
	}
	ln, err := net.Listen("tcp", opt.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	authNote := "tokens required"
	if tokens == nil {
		authNote = "no tokens: open to local users"
	}
	fmt.Fprintf(w, "hoist: API on %s://%s/v1 (%s%s)\n", scheme, ln.Addr(), authNote, note)
	for _, h := range listenHooks {
		h(rt, scheme+"://"+ln.Addr().String(), w)
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("api server: %w", err)
	case <-ctx.Done():
	}
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("api server shutdown: %w", err)
	}
	return nil
}

// loadAuth reads --tokens; without it the API is open (loopback only).
func loadAuth(opt *runOptions, log *slog.Logger) (*auth.Tokens, *auth.Authenticator, error) {
	var tokens *auth.Tokens
	if opt.tokens != "" {
		t, err := auth.LoadTokens(opt.tokens, log)
		if err != nil {
			return nil, nil, err
		}
		tokens = t
	}
	return tokens, auth.New(tokens, auth.Options{Log: log}), nil
}

// serverTLS picks the certificate: the given files, else a self-signed one
// kept in --data when asked for or when listening beyond loopback.
func serverTLS(opt *runOptions) (cfg *tls.Config, scheme, note string, err error) {
	cert, key := opt.extra[flagTLSCert], opt.extra[flagTLSKey]
	switch {
	case (cert == "") != (key == ""):
		return nil, "", "", errors.New("give both --tls-cert and --tls-key")
	case cert != "":
	case extraBool(opt, flagSelfSigned) || !auth.IsLoopback(opt.listen):
		if opt.data == "" {
			if extraBool(opt, flagInsecure) {
				return nil, "http", "", nil
			}
			return nil, "", "", fmt.Errorf("a self-signed certificate is kept in --data: give --data DIR, or --tls-cert and --tls-key: %w", auth.ErrInsecureListen)
		}
		host, _, _ := net.SplitHostPort(opt.listen)
		var hosts []string
		if h, _ := os.Hostname(); h != "" {
			hosts = append(hosts, h)
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			hosts = append(hosts, host)
		}
		cert, key, err = auth.SelfSigned(opt.data, hosts, time.Now())
		if err != nil {
			return nil, "", "", err
		}
		fp, err := auth.Fingerprint(cert)
		if err != nil {
			return nil, "", "", err
		}
		note = fmt.Sprintf("; self-signed certificate %s, SHA-256 %s: clients use --ca %s", cert, shortFP(fp), cert)
	default:
		return nil, "http", "", nil
	}
	c, err := auth.ServerTLS(cert, key)
	if err != nil {
		return nil, "", "", err
	}
	return c, "https", note, nil
}

func shortFP(fp string) string {
	var parts []string
	for i := 0; i+2 <= len(fp); i += 2 {
		parts = append(parts, fp[i:i+2])
	}
	return strings.Join(parts, ":")
}
