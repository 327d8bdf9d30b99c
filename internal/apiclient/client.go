// Package apiclient calls a running hoist's /v1 API with the API's own
// types (internal/api): what the CLI's verbs and tests use.
package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/events"
)

// DefaultServer is where a client looks without Options.Server or
// $HOIST_SERVER.
const DefaultServer = "http://127.0.0.1:8080"

// maxAnswer bounds an answer's size.
const maxAnswer = 64 << 20

// Options say where the API is and how to authenticate.
type Options struct {
	// Server is the base URL (default $HOIST_SERVER, else DefaultServer); a
	// bare host:port is https when CA or Insecure is set, else http.
	Server string
	// Token is the bearer token (default $HOIST_TOKEN); TokenFile, when set,
	// holds it instead.
	Token, TokenFile string
	// CA is a PEM certificate to trust (hoist's self-signed DATA/tls/cert.pem).
	CA string
	// Insecure skips verifying the server's certificate.
	Insecure bool
	// Timeout bounds each request (streams excepted); default 30s.
	Timeout time.Duration
}

// Client calls one hoist API.
type Client struct {
	base, token string
	hc          *http.Client // requests, with the timeout
	stream      *http.Client // event streams: no timeout, a stream lasts
}

// New makes a client.
func New(o Options) (*Client, error) {
	server := o.Server
	if server == "" {
		server = os.Getenv("HOIST_SERVER")
	}
	if server == "" {
		server = DefaultServer
	}
	if !strings.Contains(server, "://") {
		scheme := "http://"
		if o.CA != "" || o.Insecure {
			scheme = "https://"
		}
		server = scheme + server
	}
	token := o.Token
	if o.TokenFile != "" {
		data, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	if token == "" {
		token = os.Getenv("HOIST_TOKEN")
	}
	tlsCfg, err := auth.ClientTLS(o.CA, o.Insecure)
	if err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &Client{base: strings.TrimSuffix(server, "/"), token: token,
		hc: &http.Client{Transport: tr, Timeout: o.Timeout}, stream: &http.Client{Transport: tr}}, nil
}

// UnreachableError is a request that got no answer: nothing listens at the
// address, the name does not resolve, or the server did not answer in time.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("no hoist answers at %s (%v): start one with 'hoist run', or give its address with --server or $HOIST_SERVER", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// transportError is the error of a request that got no HTTP answer.
func (c *Client) transportError(ctx context.Context, method, path string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	if errors.As(err, &cv) || errors.As(err, &ua) {
		return fmt.Errorf("%s %s: %w (trust its certificate with --ca DATA/tls/cert.pem)", method, c.base+path, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &UnreachableError{Server: c.base, Err: err}
}

// Base is the server's base URL.
func (c *Client) Base() string { return c.base }

func (c *Client) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a request and decodes the answer into out; an error answer is
// an *api.Error with its Status.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return answerError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// answerError is the error an error answer carries.
func answerError(status int, data []byte) *api.Error {
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == nil || eb.Error.Message == "" {
		return &api.Error{Status: status, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	eb.Error.Status = status
	return eb.Error
}

func appPath(name string) string  { return "/v1/apps/" + url.PathEscape(name) }
func poolPath(name string) string { return "/v1/pools/" + url.PathEscape(name) }

// Apps lists the apps.
func (c *Client) Apps(ctx context.Context) (*api.AppList, error) {
	var v api.AppList
	return &v, c.do(ctx, "GET", "/v1/apps", nil, &v)
}

// App shows one app in full.
func (c *Client) App(ctx context.Context, name string) (*api.AppView, error) {
	var v api.AppView
	return &v, c.do(ctx, "GET", appPath(name), nil, &v)
}

// Deploy registers an app; spec is a descriptor app as JSON (api.SpecOf).
func (c *Client) Deploy(ctx context.Context, spec map[string]any) (*api.AppChanged, error) {
	var v api.AppChanged
	return &v, c.do(ctx, "POST", "/v1/apps", spec, &v)
}

// SetPolicy changes an app's replicas, cooldown and/or policies.
func (c *Client) SetPolicy(ctx context.Context, name string, patch map[string]any) (*api.AppChanged, error) {
	var v api.AppChanged
	return &v, c.do(ctx, "PUT", appPath(name)+"/policy", patch, &v)
}

// ResetPolicy drops a descriptor app's policy override.
func (c *Client) ResetPolicy(ctx context.Context, name string) (*api.PolicyReset, error) {
	var v api.PolicyReset
	return &v, c.do(ctx, "DELETE", appPath(name)+"/policy", nil, &v)
}

// DeleteApp deletes an app registered through the API.
func (c *Client) DeleteApp(ctx context.Context, name string) (*api.AppDeleted, error) {
	var v api.AppDeleted
	return &v, c.do(ctx, "DELETE", appPath(name), nil, &v)
}

// Pools lists the pools.
func (c *Client) Pools(ctx context.Context) (*api.PoolList, error) {
	var v api.PoolList
	return &v, c.do(ctx, "GET", "/v1/pools", nil, &v)
}

// Pool shows a pool with its machines (destroyed ones too when asked).
func (c *Client) Pool(ctx context.Context, name string, destroyed bool) (*api.PoolView, error) {
	path := poolPath(name)
	if destroyed {
		path += "?include_destroyed=true"
	}
	var v api.PoolView
	return &v, c.do(ctx, "GET", path, nil, &v)
}

// ScaleUp asks for n more machines.
func (c *Client) ScaleUp(ctx context.Context, pool string, n int) (*api.PoolChange, error) {
	var v api.PoolChange
	return &v, c.do(ctx, "POST", poolPath(pool)+"/scaleup", api.CountBody{Count: &n}, &v)
}

// ScaleDown asks for n fewer machines.
func (c *Client) ScaleDown(ctx context.Context, pool string, n int) (*api.PoolChange, error) {
	var v api.PoolChange
	return &v, c.do(ctx, "POST", poolPath(pool)+"/scaledown", api.CountBody{Count: &n}, &v)
}

// ScaleTo asks for n machines.
func (c *Client) ScaleTo(ctx context.Context, pool string, n int) (*api.PoolChange, error) {
	var v api.PoolChange
	return &v, c.do(ctx, "POST", poolPath(pool)+"/scaleto/"+strconv.Itoa(n), nil, &v)
}

// CancelDrain returns a selected or draining machine to service.
func (c *Client) CancelDrain(ctx context.Context, machine string) (*api.DrainCancelled, error) {
	var v api.DrainCancelled
	return &v, c.do(ctx, "POST", "/v1/machines/"+url.PathEscape(machine)+"/cancel-drain", nil, &v)
}

// Reload makes the server re-read its descriptor and tokens.
func (c *Client) Reload(ctx context.Context) (*api.ReloadResult, error) {
	var v api.ReloadResult
	return &v, c.do(ctx, "POST", "/v1/reload", nil, &v)
}

// EventQuery selects events.
type EventQuery struct {
	App, Pool, Machine string
	Kinds              []string
	// Since is RFC 3339 or a duration back (1h).
	Since string
}

func (q EventQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"app": q.App, "pool": q.Pool, "machine": q.Machine, "since": q.Since} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for _, k := range q.Kinds {
		v.Add("kind", k)
	}
	return v
}

// Events returns the last limit matching events.
func (c *Client) Events(ctx context.Context, q EventQuery, limit int) (*api.EventPage, error) {
	v := q.values()
	v.Set("limit", strconv.Itoa(limit))
	var page api.EventPage
	return &page, c.do(ctx, "GET", "/v1/events?"+v.Encode(), nil, &page)
}

// Follow streams the matching events after seq to fn until ctx ends,
// reconnecting (from the last event seen) when the connection drops. A
// refusal (HTTP 4xx) ends it with that error, as does an error from fn.
func (c *Client) Follow(ctx context.Context, q EventQuery, seq uint64, fn func(events.Event) error) error {
	backoff := time.Second
	for {
		v := q.values()
		v.Set("after", strconv.FormatUint(seq, 10))
		req, err := c.request(ctx, "GET", "/v1/events/stream?"+v.Encode(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.stream.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			ae := answerError(resp.StatusCode, data)
			if resp.StatusCode < 500 && ae.Code != "http" {
				return ae // a refusal, not an outage: retrying will not help
			}
			err = ae
		}
		if err == nil {
			backoff = time.Second
			last, ferr := readStream(resp.Body, seq, fn)
			resp.Body.Close()
			seq = last
			if ferr != nil {
				return ferr
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// readStream hands each event of a Server-Sent Events body to fn and
// returns the highest sequence number seen.
func readStream(body io.Reader, seq uint64, fn func(events.Event) error) (uint64, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e events.Event
		if json.Unmarshal([]byte(data), &e) != nil {
			continue
		}
		seq = max(seq, e.Seq)
		if err := fn(e); err != nil {
			return seq, err
		}
	}
	return seq, nil
}

// Throttle rate-limits an app's tasks (body.Tasks empty: all of them).
func (c *Client) Throttle(ctx context.Context, name string, body api.ThrottleBody) (*api.ThrottleState, error) {
	var v api.ThrottleState
	return &v, c.do(ctx, "POST", appPath(name)+"/throttle", body, &v)
}

// Unthrottle lifts an app's rate limit.
func (c *Client) Unthrottle(ctx context.Context, name string) (*api.ThrottleState, error) {
	var v api.ThrottleState
	return &v, c.do(ctx, "DELETE", appPath(name)+"/throttle", nil, &v)
}

// Throttled shows an app's rate limit (Throttle nil: none).
func (c *Client) Throttled(ctx context.Context, name string) (*api.ThrottleState, error) {
	var v api.ThrottleState
	return &v, c.do(ctx, "GET", appPath(name)+"/throttle", nil, &v)
}
