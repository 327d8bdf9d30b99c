package main

// A small W3C WebDriver client for the dashboard's browser tests: Debian's
// chromedriver drives Debian's headless Chromium, both started by the test
// and stopped by their process IDs (no browser download, no npm).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	chromiumPath     = "/usr/bin/chromium"
	chromedriverPath = "/usr/bin/chromedriver"
	// webElementKey names an element reference in W3C WebDriver answers.
	webElementKey = "element-6066-11e4-a52e-4f735466cecf"
)

// requireBrowser finds Chromium and chromedriver. In CI (CI=true) their
// absence fails the test: the dashboard must be tested there.
func requireBrowser(t *testing.T) (chromium, driver string) {
	t.Helper()
	find := func(env, def, name string) string {
		if p := os.Getenv(env); p != "" {
			return p
		}
		if _, err := os.Stat(def); err == nil {
			return def
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		return ""
	}
	chromium = find("HOIST_CHROMIUM", chromiumPath, "chromium")
	driver = find("HOIST_CHROMEDRIVER", chromedriverPath, "chromedriver")
	if chromium == "" || driver == "" {
		msg := "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; scripts/deps installs them)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium, driver
}

// browser is one chromedriver process with one session.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // chromedriver's URL
	session string
	hc      *http.Client
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBrowser starts chromedriver and a headless Chromium session with a
// fresh profile; both end when the test does.
func startBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	chromium, driver := requireBrowser(t)
	port := freePort(t)
	b := &browser{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 60 * time.Second}}
	logFile := filepath.Join(t.TempDir(), "chromedriver.log")
	b.cmd = exec.Command(driver, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1", "--log-path="+logFile)
	// Its own process group: stopping it stops the Chromium it started too.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("chromedriver: %v", err)
	}
	t.Cleanup(b.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := b.hc.Get(b.base + "/status")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not answer on %s: %v", b.base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	profile := t.TempDir()
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
				"--disable-extensions", "--user-data-dir=" + profile, fmt.Sprintf("--window-size=%d,%d", width, height)},
		},
		"goog:loggingPrefs": map[string]string{"browser": "ALL"},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new session: %v", err)
	}
	b.session = sess.SessionID
	return b
}

func (b *browser) stop() {
	if b.session != "" {
		_ = b.call("DELETE", "/session/"+b.session, nil, nil)
		b.session = ""
	}
	if b.cmd != nil && b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		b.cmd = nil
	}
}

// call sends one WebDriver command; out receives the answer's value.
func (b *browser) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("webdriver %s %s: %s: %w", method, path, data, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("webdriver %s %s: %d %s", method, path, res.StatusCode, env.Value)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func (b *browser) sess(p string) string { return "/session/" + b.session + p }

func (b *browser) navigate(url string) {
	b.t.Helper()
	if err := b.call("POST", b.sess("/url"), map[string]string{"url": url}, nil); err != nil {
		b.t.Fatalf("navigate %s: %v", url, err)
	}
}

// exec runs a script in the page (its body is a function's; arguments
// are in `arguments`) and decodes what it returns into out.
func (b *browser) exec(script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return b.call("POST", b.sess("/execute/sync"), map[string]any{"script": script, "args": args}, out)
}

func (b *browser) mustExec(script string, out any, args ...any) {
	b.t.Helper()
	if err := b.exec(script, out, args...); err != nil {
		b.t.Fatalf("script %q: %v", script, err)
	}
}

// element finds an element by CSS selector.
func (b *browser) element(css string) (string, error) {
	var ref map[string]string
	if err := b.call("POST", b.sess("/element"), map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
		return "", err
	}
	return ref[webElementKey], nil
}

func (b *browser) click(css string) {
	b.t.Helper()
	id, err := b.element(css)
	if err == nil {
		err = b.call("POST", b.sess("/element/"+id+"/click"), map[string]any{}, nil)
	}
	if err != nil {
		b.t.Fatalf("click %s: %v", css, err)
	}
}

// typeInto clears an input and types text into it, as a user would.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	id, err := b.element(css)
	if err == nil {
		err = b.call("POST", b.sess("/element/"+id+"/clear"), map[string]any{}, nil)
	}
	if err == nil {
		err = b.call("POST", b.sess("/element/"+id+"/value"), map[string]any{"text": text}, nil)
	}
	if err != nil {
		b.t.Fatalf("type into %s: %v", css, err)
	}
}

// minWait is the least time waitFor gives a condition.
const minWait = 90 * time.Second

// waitFor polls a script until it returns true, for at least minWait.
func (b *browser) waitFor(what, script string, timeout time.Duration, args ...any) {
	b.t.Helper()
	// A deadline, not a measure: on a 2-core machine kept busy, Chromium and
	// a simulator at 50x take several times longer (a 20 s wait timed out at
	// load average 37), and a pass returns as soon as the condition holds.
	timeout = max(timeout, minWait)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		var ok bool
		if last = b.exec(script, &ok, args...); last == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.screenshot("timeout-" + strings.ReplaceAll(what, " ", "-"))
	b.t.Fatalf("timed out after %s waiting for %s (last error: %v); console: %v", timeout, what, last, b.consoleLog())
}

type logEntry struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Source  string `json:"source"`
}

// consoleLog returns the browser's console messages since the last call.
func (b *browser) consoleLog() []logEntry {
	var out []logEntry
	if err := b.call("POST", b.sess("/se/log"), map[string]string{"type": "browser"}, &out); err != nil {
		b.t.Errorf("reading the console: %v", err)
	}
	return out
}

// consoleErrors are the console's errors and warnings since the last call.
func (b *browser) consoleErrors() []logEntry {
	var bad []logEntry
	for _, e := range b.consoleLog() {
		if e.Level == "SEVERE" || e.Level == "WARNING" {
			bad = append(bad, e)
		}
	}
	return bad
}

// artifactsDir is where screenshots go: $HOIST_ARTIFACTS, else
// e2e/artifacts/dashboard at the repository's root (git-ignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOIST_ARTIFACTS")
	if dir == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "e2e", "artifacts", "dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the page as NAME.png among the artifacts.
func (b *browser) screenshot(name string) string {
	var data string
	if err := b.call("GET", b.sess("/screenshot"), nil, &data); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(artifactsDir(b.t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", p)
	return p
}

// fullPageScreenshot resizes the window to the page's height first.
func (b *browser) fullPageScreenshot(name string, width int) string {
	var height int
	b.mustExec(`return Math.min(6000, document.documentElement.scrollHeight)`, &height)
	_ = b.call("POST", b.sess("/window/rect"), map[string]int{"width": width, "height": height + 120}, nil)
	time.Sleep(300 * time.Millisecond) // charts follow the new width
	return b.screenshot(name)
}
