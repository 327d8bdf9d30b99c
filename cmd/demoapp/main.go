// Command demoapp is hoist's demo workload. As a server (the default) it
// answers HTTP requests with a configurable amount of CPU work each and exposes
// Prometheus metrics; as a load generator (`demoapp load`) it finds every
// replica of a Swarm service through the tasks.NAME DNS name of the overlay
// network (the service VIP needs IPVS, which not every kernel has) and spreads
// requests over all of them.
//
// It is built as a static binary into a FROM scratch image (scripts/localstack).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	mode := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "load") {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "serve":
		err = serve(ctx, log, args)
	case "load":
		err = load(ctx, os.Stdout, args)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("demoapp", "err", err)
		os.Exit(1)
	}
}

// env returns the environment variable k, or def.
func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func serve(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("listen", ":"+env("PORT", "8080"), "listen address")
	work := fs.Duration("work", mustDuration(env("WORK", "10ms")), "CPU time spent per request (overridden by ?work=)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	h := newHandler(*work, reg)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", *addr, "work", *work)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// maxPad bounds an answer's padding and an upload (1 GiB).
const maxPad = 1 << 30

var zeros = make([]byte, 64<<10)

func writeZeros(w io.Writer, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return
		}
		n -= k
	}
}

func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "demoapp: bad duration %q: %v\n", s, err)
		os.Exit(2)
	}
	return d
}

// handler does the CPU work of one request and counts it.
type handler struct {
	work     time.Duration
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	host     string
}

func newHandler(work time.Duration, reg prometheus.Registerer) *handler {
	h := &handler{work: work}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "demoapp_requests_total", Help: "HTTP requests served, by status code.",
	}, []string{"code"})
	h.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "demoapp_request_duration_seconds", Help: "Time from request to response.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	reg.MustRegister(h.requests, h.latency)
	h.requests.WithLabelValues("200") // exported as 0 from the start: a rate needs two samples
	h.host, _ = os.Hostname()
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	work := h.work
	if v := r.URL.Query().Get("work"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 10*time.Second {
			h.requests.WithLabelValues("400").Inc()
			http.Error(w, "work must be a duration between 0 and 10s", http.StatusBadRequest)
			return
		}
		work = d
	}
	// A request body is read through (an upload: the task receives it); a
	// ?bytes=N asks for N bytes of answer (a download: the task sends it).
	// Together they make the traffic the network guard watches.
	pad := int64(0)
	if v := r.URL.Query().Get("bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxPad {
			h.requests.WithLabelValues("400").Inc()
			http.Error(w, "bytes must be an integer between 0 and 1073741824", http.StatusBadRequest)
			return
		}
		pad = n
	}
	received, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxPad))
	burn(work)
	if received > 0 {
		fmt.Fprintf(w, "%s %s received=%d\n", h.host, work, received)
	} else {
		fmt.Fprintf(w, "%s %s\n", h.host, work)
	}
	if pad > 0 {
		writeZeros(w, pad)
	}
	h.requests.WithLabelValues("200").Inc()
	h.latency.Observe(time.Since(start).Seconds())
}

// burn spends d of this thread's CPU time (not wall time: a throttled
// container takes longer, as real work would).
func burn(d time.Duration) {
	if d <= 0 {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	x := 1.0
	for i := 0; ; i++ {
		x = x*1.0000001 + 1e-9
		if i%2048 == 0 && threadCPU()-start >= d {
			break
		}
	}
	sink.Store(uint64(x))
}

var sink atomic.Uint64

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// load sends requests to every address behind a DNS name, re-resolved every
// second, so replicas that appear get their share at once.
func load(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("target", env("TARGET", ""), "host:port whose name resolves to every replica, e.g. tasks.demo:8080")
	conc := fs.Int("concurrency", 4, "requests in flight (closed loop)")
	rate := fs.Float64("rate", 0, "requests per second in total (open loop; 0: closed loop)")
	dur := fs.Duration("duration", 0, "stop after this long (0: until stopped)")
	path := fs.String("path", "/", "request path (e.g. /?work=20ms)")
	every := fs.Duration("report", 5*time.Second, "how often to print a summary line")
	flood := fs.Int64("flood", 0, "flood mode: every request uploads this many bytes (the generator's task sends them; 0: none)")
	sched := fs.String("schedule", "", "a rate that repeats every --period: OFFSET=REQ/S,... (e.g. 0s=20,20s=20,26s=80,38s=80,40s=20), linear in between (open loop; instead of --rate)")
	period := fs.Duration("period", 0, "the period of --schedule")
	epoch := fs.Int64("epoch", 0, "the schedule's time zero, Unix seconds (default: now), so that who starts the generator knows when each rise comes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sc *schedule
	if *sched != "" {
		if *rate != 0 {
			return fmt.Errorf("--rate and --schedule both set: give one (the schedule is the rate)")
		}
		t0 := time.Now()
		if *epoch != 0 {
			t0 = time.Unix(*epoch, 0)
		}
		var err error
		if sc, err = parseSchedule(*sched, *period, t0); err != nil {
			return err
		}
	}
	host, port, err := net.SplitHostPort(*target)
	if err != nil {
		return fmt.Errorf("--target must be host:port: %w", err)
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	if *flood < 0 || *flood > maxPad {
		return fmt.Errorf("--flood must be between 0 and %d bytes", maxPad)
	}
	g := &generator{host: host, port: port, path: *path, flood: *flood, perAddr: map[string]*atomic.Int64{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	g.resolve(ctx)
	go g.resolveLoop(ctx)
	var wg sync.WaitGroup
	if sc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); g.paced(ctx, sc) }()
	} else if *rate > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); g.open(ctx, *rate) }()
	} else {
		for i := 0; i < max(1, *conc); i++ {
			wg.Add(1)
			go func() { defer wg.Done(); g.closed(ctx) }()
		}
	}
	t := time.NewTicker(*every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			g.report(out)
			return nil
		case <-t.C:
			g.report(out)
		}
	}
}

type generator struct {
	host, port, path string
	flood            int64 // bytes uploaded by every request (flood mode)
	client           *http.Client
	mu               sync.Mutex
	addrs            []string
	perAddr          map[string]*atomic.Int64
	next             atomic.Uint64
	ok, failed       atomic.Int64
}

func (g *generator) resolveLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.resolve(ctx)
		}
	}
}

func (g *generator) resolve(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(rctx, g.host)
	if err != nil {
		return // keep the last good list
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addrs = addrs
	for _, a := range addrs {
		if g.perAddr[a] == nil {
			g.perAddr[a] = &atomic.Int64{}
		}
	}
}

// pick returns the next address, round robin.
func (g *generator) pick() (string, *atomic.Int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.addrs) == 0 {
		return "", nil
	}
	a := g.addrs[int(g.next.Add(1)%uint64(len(g.addrs)))]
	return a, g.perAddr[a]
}

func (g *generator) one(ctx context.Context) {
	addr, n := g.pick()
	if addr == "" {
		g.failed.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return
	}
	method, body := http.MethodGet, io.Reader(nil)
	if g.flood > 0 {
		method, body = http.MethodPost, io.LimitReader(zeroReader{}, g.flood)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+net.JoinHostPort(addr, g.port)+g.path, body)
	if err != nil {
		g.failed.Add(1)
		return
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.failed.Add(1)
			time.Sleep(50 * time.Millisecond) // a replica going away: do not spin
		}
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		g.ok.Add(1)
		n.Add(1)
	} else {
		g.failed.Add(1)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (g *generator) closed(ctx context.Context) {
	for ctx.Err() == nil {
		g.one(ctx)
	}
}

func (g *generator) open(ctx context.Context, rate float64) {
	interval := time.Duration(float64(time.Second) / rate)
	t := time.NewTicker(interval)
	defer t.Stop()
	sem := make(chan struct{}, 256) // bound the requests in flight
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			select {
			case sem <- struct{}{}:
				go func() { defer func() { <-sem }(); g.one(ctx) }()
			default:
				g.failed.Add(1) // overloaded: count it as lost
			}
		}
	}
}

func (g *generator) report(out io.Writer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	line := fmt.Sprintf("%s ok=%d failed=%d replicas=%d", time.Now().UTC().Format("15:04:05"), g.ok.Load(), g.failed.Load(), len(g.addrs))
	for _, a := range g.addrs {
		line += " " + a + "=" + strconv.FormatInt(g.perAddr[a].Load(), 10)
	}
	fmt.Fprintln(out, line)
}
