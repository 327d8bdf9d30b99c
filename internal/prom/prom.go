// Package prom is hoist's client of a Prometheus server: instant queries over
// the HTTP API for policies with `query:` (an engine.MetricSource), and the
// lifecycle reload that makes Prometheus read hoist's rule files. Only the few
// response types hoist needs are mirrored here; Prometheus is not imported.
package prom

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

// Why a query has no value. Each is returned wrapped together with
// engine.ErrNoData, so the engine holds instead of scaling down.
var (
	// ErrUnavailable: Prometheus could not be reached or answered with a
	// server error (or the request timed out).
	ErrUnavailable = errors.New("prometheus unavailable")
	// ErrQuery: Prometheus refused the query (bad PromQL, bad auth).
	ErrQuery = errors.New("prometheus refused the query")
	// ErrEmpty: the query matched no series.
	ErrEmpty = errors.New("query returned no series")
	// ErrNotANumber: the value is NaN or infinite.
	ErrNotANumber = errors.New("query value is not a number")
	// ErrAmbiguous: the query returned several series; aggregate it (sum, avg, max).
	ErrAmbiguous = errors.New("query returned several series; aggregate them to one (sum, avg, max)")
)

// ErrNoURL is returned by New without a URL.
var ErrNoURL = errors.New("prometheus.url is not set")

// maxBody bounds what hoist reads of a Prometheus answer: a query of one
// value is a few hundred bytes; a mistaken query could return megabytes.
const maxBody = 4 << 20

// Client talks to one Prometheus server. Safe for concurrent use.
type Client struct {
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
	auth    *config.HTTPAuth
}

var _ engine.MetricSource = (*Client)(nil)

// New makes a client from the descriptor's prometheus block.
func New(p config.Prometheus) (*Client, error) {
	if p.URL == "" {
		return nil, ErrNoURL
	}
	u, err := url.Parse(strings.TrimSuffix(p.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("prometheus.url: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// hoist talks to its own Prometheus: an operator's HTTP(S)_PROXY is for
	// the way out, not for this.
	tr.Proxy = nil
	if t := p.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("prometheus.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("prometheus.tls.ca_file %s: no PEM certificate", t.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	timeout := p.Timeout.D()
	if timeout <= 0 {
		timeout = config.DefaultPrometheusTimeout
	}
	c := &Client{base: u, hc: &http.Client{Transport: tr}, timeout: timeout, auth: p.Auth}
	// Fail now, not at the first tick, on an unreadable secret file.
	if _, err := c.authHeader(); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is the server's address.
func (c *Client) URL() string { return c.base.String() }

// Value implements engine.MetricSource for policies with a query. The
// window does not apply: a PromQL query states its own range.
func (c *Client) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	if q.Query == "" {
		return 0, fmt.Errorf("prometheus answers queries, not built-in metric %q: %w", q.Metric, engine.ErrNoData)
	}
	return c.Query(ctx, q.Query)
}

// apiResponse mirrors Prometheus's HTTP API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// queryData mirrors the data of /api/v1/query.
type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// sample mirrors one vector element: labels and [time, "value"].
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant query and returns its one value. Every failure wraps
// engine.ErrNoData and one of this package's errors, with the reason.
func (c *Client) Query(ctx context.Context, query string) (float64, error) {
	body, err := c.do(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return 0, err
	}
	return value(body, query)
}

// value reads the one value of a query's data.
func value(data []byte, query string) (float64, error) {
	var d queryData
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, noData(ErrUnavailable, "malformed answer: %v", err)
	}
	switch d.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return 0, noData(ErrUnavailable, "malformed scalar: %v", err)
		}
		return number(v)
	case "vector":
		var vs []sample
		if err := json.Unmarshal(d.Result, &vs); err != nil {
			return 0, noData(ErrUnavailable, "malformed vector: %v", err)
		}
		switch len(vs) {
		case 0:
			return 0, noData(ErrEmpty, "%s", query)
		case 1:
			return number(vs[0].Value)
		default:
			return 0, noData(ErrAmbiguous, "%d series", len(vs))
		}
	default:
		return 0, noData(ErrQuery, "result type %q: a policy needs an instant vector or a scalar", d.ResultType)
	}
}

// CheckQuery asks Prometheus to evaluate query now and returns why it
// cannot serve as a policy's value: Prometheus's parser refuses it
// (ErrQuery, with the parser's message), or its result is not an instant
// vector or a scalar (ErrQuery). No series, or several, is no reason: the
// app may not run yet. ErrUnavailable when Prometheus could not say.
func (c *Client) CheckQuery(ctx context.Context, query string) error {
	body, err := c.do(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return err
	}
	return checkResultType(body)
}

func checkResultType(data []byte) error {
	var d queryData
	if err := json.Unmarshal(data, &d); err != nil {
		return noData(ErrUnavailable, "malformed answer: %v", err)
	}
	switch d.ResultType {
	case "vector", "scalar":
		return nil
	}
	return noData(ErrQuery, "the result is a %s: a policy needs an instant vector or a scalar", d.ResultType)
}

// CheckExpr asks Prometheus's parser about expr without evaluating it
// (/api/v1/format_query, Prometheus 2.38 and later; an older one evaluates
// it instead): nil, or ErrQuery with the parser's message, or
// ErrUnavailable when Prometheus could not say.
func (c *Client) CheckExpr(ctx context.Context, expr string) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v1/format_query", url.Values{"query": {expr}})
	var st *statusError
	if errors.As(err, &st) && st.code == http.StatusNotFound {
		_, err = c.do(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {expr}})
	}
	return err
}

func number(v [2]any) (float64, error) {
	s, ok := v[1].(string)
	if !ok {
		return 0, noData(ErrUnavailable, "malformed value %v", v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, noData(ErrUnavailable, "malformed value %q", s)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, noData(ErrNotANumber, "%s", s)
	}
	return f, nil
}

// Reload asks Prometheus to re-read its configuration and rule files
// (Prometheus must run with --web.enable-lifecycle). A rule file Prometheus
// rejects makes the reload fail with Prometheus's message.
func (c *Client) Reload(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/-/reload", nil)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// do sends a request and returns the API's data (or, for endpoints outside
// the API such as /-/reload, the body).
func (c *Client) do(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, noData(ErrQuery, "%v", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	h, err := c.authHeader()
	if err != nil {
		return nil, noData(ErrUnavailable, "%v", err)
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, noData(ErrUnavailable, "%v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, noData(ErrUnavailable, "reading the answer: %v", err)
	}
	return envelope(resp.StatusCode, raw, strings.HasPrefix(path, "/api/"))
}

// envelope reads an answer of status code: for the HTTP API (api true) its
// data, else (/-/reload) the body.
func envelope(code int, raw []byte, api bool) ([]byte, error) {
	if len(raw) > maxBody {
		return nil, noData(ErrQuery, "answer larger than %d bytes", maxBody)
	}
	if !api {
		if code/100 != 2 {
			return nil, statusErr(code, strings.TrimSpace(string(raw)))
		}
		return raw, nil
	}
	var r apiResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		if code/100 != 2 {
			return nil, statusErr(code, strings.TrimSpace(string(raw)))
		}
		return nil, noData(ErrUnavailable, "not a Prometheus API answer: %v", err)
	}
	if r.Status != "success" {
		msg := r.Error
		if r.ErrorType != "" {
			msg = r.ErrorType + ": " + msg
		}
		return nil, statusErr(code, msg)
	}
	return r.Data, nil
}

// statusError keeps the HTTP status of a refusal (CheckExpr falls back on 404).
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func statusErr(code int, msg string) error {
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	if code >= 500 || code == http.StatusServiceUnavailable || code == 0 {
		return &statusError{code, noData(ErrUnavailable, "HTTP %d: %s", code, msg)}
	}
	return &statusError{code, noData(ErrQuery, "HTTP %d: %s", code, msg)}
}

// authHeader builds the Authorization header, reading secret files each
// time so a rotated secret is picked up without a restart.
func (c *Client) authHeader() (string, error) {
	a := c.auth
	if a == nil {
		return "", nil
	}
	switch {
	case a.BearerToken != "":
		return "Bearer " + a.BearerToken, nil
	case a.BearerTokenFile != "":
		t, err := ReadSecret(a.BearerTokenFile)
		if err != nil {
			return "", fmt.Errorf("prometheus.auth.bearer_token_file: %w", err)
		}
		return "Bearer " + t, nil
	case a.Username != "":
		pw := a.Password
		if a.PasswordFile != "" {
			p, err := ReadSecret(a.PasswordFile)
			if err != nil {
				return "", fmt.Errorf("prometheus.auth.password_file: %w", err)
			}
			pw = p
		}
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(a.Username, pw)
		return req.Header.Get("Authorization"), nil
	}
	return "", nil
}

// ReadSecret reads a one-line secret file (a token, a password).
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// noData wraps kind and engine.ErrNoData with a reason.
func noData(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", kind, fmt.Sprintf(format, args...), engine.ErrNoData)
}

// Point is one value of a range query.
type Point struct {
	Time  time.Time
	Value float64
}

// rangeData mirrors the data of /api/v1/query_range.
type rangeData struct {
	ResultType string        `json:"resultType"`
	Result     []rangeSeries `json:"result"`
}

// rangeSeries mirrors one matrix element: labels and [[time, "value"], ...].
type rangeSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// MaxRangePoints is how many steps one range request asks for. Prometheus
// refuses more than 11,000 points per series in one query; QueryRange splits
// a longer range into requests of at most this many.
const MaxRangePoints = 10_000

// QueryRange runs a range query from start to end every step and returns the
// one series' points in time order (a point is missing where the series had
// no value, or where its value was NaN or infinite). A query giving several
// series fails with ErrAmbiguous, none with ErrEmpty, a refused one with
// ErrQuery, each wrapping engine.ErrNoData like Query's.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Point, error) {
	if step <= 0 || !end.After(start) {
		return nil, noData(ErrQuery, "range %s to %s every %s: want a step > 0 and an end after the start", start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	}
	var out []Point
	seen := false
	for from := start; !from.After(end); from = from.Add(MaxRangePoints * step) {
		to := from.Add((MaxRangePoints - 1) * step)
		if to.After(end) {
			to = end
		}
		body, err := c.do(ctx, http.MethodPost, "/api/v1/query_range", url.Values{
			"query": {query},
			"start": {formatTime(from)}, "end": {formatTime(to)},
			"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
		})
		if err != nil {
			return nil, err
		}
		pts, found, err := rangePoints(body)
		if err != nil {
			return nil, err
		}
		seen = seen || found
		out = append(out, pts...)
	}
	if !seen {
		return nil, noData(ErrEmpty, "%s", query)
	}
	return out, nil
}

// rangePoints reads one range answer; found says whether it had a series.
func rangePoints(data []byte) (pts []Point, found bool, err error) {
	var d rangeData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, false, noData(ErrUnavailable, "malformed answer: %v", err)
	}
	if d.ResultType != "matrix" {
		return nil, false, noData(ErrQuery, "result type %q: a range query of a series gives a matrix", d.ResultType)
	}
	switch len(d.Result) {
	case 0:
		return nil, false, nil
	case 1:
	default:
		return nil, false, noData(ErrAmbiguous, "%d series", len(d.Result))
	}
	for _, v := range d.Result[0].Values {
		ts, ok := v[0].(float64)
		if !ok {
			return nil, false, noData(ErrUnavailable, "malformed time %v", v[0])
		}
		f, err := number(v)
		if errors.Is(err, ErrNotANumber) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		sec, frac := math.Modf(ts)
		pts = append(pts, Point{Time: time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), Value: f})
	}
	return pts, true, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}
