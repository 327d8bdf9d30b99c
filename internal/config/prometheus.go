package config

import (
	"net/url"
	"strings"
	"time"
)

// Prometheus connects hoist to a Prometheus server: policies with `query:`
// ask it, per-app alert rules are written for it, and Alertmanager calls
// hoist's webhook. Every field is optional; without URL, queries have no data
// (and so never scale down) and rule files are written without a reload.
type Prometheus struct {
	// URL of the Prometheus server, e.g. http://127.0.0.1:9090.
	URL string `yaml:"url"`
	// Timeout bounds one query or reload (default 5s).
	Timeout Duration `yaml:"timeout"`
	// TLS for an https URL.
	TLS *ClientTLS `yaml:"tls,omitempty"`
	// Auth is what hoist presents to Prometheus.
	Auth *HTTPAuth `yaml:"auth,omitempty"`
	// RulesDir is where hoist keeps one rule file per app (and per pool) with
	// alerts; Prometheus's rule_files should include RulesDir/*.yml. Empty:
	// hoist manages no rule files.
	RulesDir string `yaml:"rules_dir"`
	// Webhook is the alert executor's own credential: what Alertmanager must
	// present on hoist's /v1/alerts/webhook. Separate from API tokens.
	Webhook *Webhook `yaml:"webhook,omitempty"`
}

// ClientTLS configures how hoist checks a server's certificate.
type ClientTLS struct {
	// CAFile is a PEM bundle of the CAs to trust (default: the system's).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any certificate (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked in the certificate.
	ServerName string `yaml:"server_name"`
}

// HTTPAuth is HTTP basic auth or a bearer token; secrets may be given inline
// or, better, in files (read when used, so they can be rotated).
type HTTPAuth struct {
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	PasswordFile    string `yaml:"password_file"`
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// Webhook is the alert executor's configuration: its credential, as in
// HTTPAuth, and how long a firing alert lasts unrepeated.
type Webhook struct {
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	PasswordFile    string `yaml:"password_file"`
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// ExpireAfter forgets a firing alert Alertmanager has not repeated for
	// this long (0: keep it until it is resolved). Set it above
	// Alertmanager's repeat_interval.
	ExpireAfter Duration `yaml:"expire_after"`
}

// PoolAlert asks for Prometheus alerts on a pool's machines, acted on by
// hoist's alert executor: mean share above Upper for For adds StepUp
// machines, below Lower for DownFor removes StepDown (MiCADO's node alerts).
type PoolAlert struct {
	// Metric is reserved (the larger of the reserved CPU and memory shares,
	// as scale_down uses) or cpu (CPU used, estimated from the apps' CPU);
	// default reserved. Or Query, a PromQL expression of one value.
	Metric   string   `yaml:"metric"`
	Query    string   `yaml:"query"`
	Upper    float64  `yaml:"upper"`
	Lower    *float64 `yaml:"lower"`
	For      Duration `yaml:"for"`
	DownFor  Duration `yaml:"down_for"`
	StepUp   int      `yaml:"step_up"`
	StepDown int      `yaml:"step_down"`
	// Repeat is how often a firing alert may act again (default: the pool's cooldown).
	Repeat Duration `yaml:"repeat"`
}

// Credential is the webhook's credential.
func (w *Webhook) Credential() HTTPAuth {
	return HTTPAuth{Username: w.Username, Password: w.Password, PasswordFile: w.PasswordFile,
		BearerToken: w.BearerToken, BearerTokenFile: w.BearerTokenFile}
}

// Defaults of the Prometheus integration.
const (
	DefaultPrometheusTimeout = 5 * time.Second
	DefaultAlertRepeat       = time.Minute
)

// Pool alert metrics.
var PoolAlertMetrics = []string{"reserved", "cpu"}

// SetDefaults fills the unset fields of the prometheus block.
func (p *Prometheus) SetDefaults() {
	if p.Timeout == 0 {
		p.Timeout = Duration(DefaultPrometheusTimeout)
	}
}

// setDefaults fills a pool alert's unset fields.
func (a *PoolAlert) setDefaults(p *Pool) {
	if a.Metric == "" && a.Query == "" {
		a.Metric = "reserved"
	}
	stepDefaults(&a.StepUp, &a.StepDown, &a.DownFor, a.For)
	if a.Repeat == 0 {
		a.Repeat = p.Cooldown
	}
}

// setAlertDefaults fills an app alert policy's unset fields: CPU by default.
func (p *Policy) setAlertDefaults() {
	if p.Metric == "" && p.Query == "" {
		p.Metric = "cpu"
	}
	stepDefaults(&p.StepUp, &p.StepDown, &p.DownFor, p.For)
	if p.Repeat == 0 {
		p.Repeat = Duration(DefaultAlertRepeat)
	}
}

func (p *Prometheus) check(ck *checker, path string) {
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		switch {
		case err != nil:
			ck.add(path+".url", "not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			ck.add(path+".url", "scheme must be http or https, not %q", u.Scheme)
		case u.Host == "":
			ck.add(path+".url", "has no host")
		case u.RawQuery != "" || u.Fragment != "":
			ck.add(path+".url", "must not have a query or fragment")
		}
	}
	if p.Timeout.D() < 10*time.Millisecond {
		ck.add(path+".timeout", "must be at least 10ms")
	}
	if p.TLS != nil && p.URL != "" && strings.HasPrefix(p.URL, "http://") {
		ck.add(path+".tls", "is only used with an https url")
	}
	if p.Auth != nil {
		p.Auth.check(ck, path+".auth", false)
	}
	if p.Webhook != nil {
		cred := p.Webhook.Credential()
		cred.check(ck, path+".webhook", true)
		if p.Webhook.ExpireAfter < 0 {
			ck.add(path+".webhook.expire_after", "must be >= 0")
		}
	}
}

func (a *HTTPAuth) check(ck *checker, path string, required bool) {
	basic := a.Username != "" || a.Password != "" || a.PasswordFile != ""
	bearer := a.BearerToken != "" || a.BearerTokenFile != ""
	switch {
	case basic && bearer:
		ck.add(path+".bearer_token", "give basic auth (username, password) or a bearer token, not both")
	case required && !basic && !bearer:
		ck.add(path, "set bearer_token_file (or bearer_token), or username and password_file")
	}
	if a.Password != "" && a.PasswordFile != "" {
		ck.add(path+".password_file", "give password or password_file, not both")
	}
	if basic && a.Username == "" {
		ck.add(path+".username", "is required with a password")
	}
	if a.Username != "" && a.Password == "" && a.PasswordFile == "" {
		ck.add(path+".password", "is required with a username (or password_file)")
	}
	if a.BearerToken != "" && a.BearerTokenFile != "" {
		ck.add(path+".bearer_token_file", "give bearer_token or bearer_token_file, not both")
	}
	if strings.ContainsAny(a.Username, ":\r\n") {
		ck.add(path+".username", "must not contain ':' or a line break")
	}
}

func (a *PoolAlert) check(ck *checker, path string) {
	switch {
	case a.Metric != "" && a.Query != "":
		ck.add(path+".query", "give either metric or query, not both")
	case a.Metric != "" && !contains(PoolAlertMetrics, a.Metric):
		ck.add(path+".metric", "%q is not one of %s", a.Metric, strings.Join(PoolAlertMetrics, ", "))
	}
	if a.Lower == nil {
		ck.add(path+".lower", "is required")
	} else if *a.Lower >= a.Upper {
		ck.addRel(path+".lower", []string{path + ".upper"}, "lower %g must be below upper %g", *a.Lower, a.Upper)
	}
	if a.Query == "" && (a.Upper <= 0 || a.Upper > 1) {
		ck.add(path+".upper", "must be a share in (0, 1]")
	}
	if a.For < 0 || a.DownFor < 0 {
		ck.add(path+".for", "must be >= 0")
	}
	if a.StepUp < 0 {
		ck.add(path+".step_up", "must be >= 1")
	}
	if a.StepDown < 0 {
		ck.add(path+".step_down", "must be >= 1")
	}
	if a.Repeat < 0 {
		ck.add(path+".repeat", "must be >= 0")
	}
}

// checkAlert validates an app policy of type alert.
func (p *Policy) checkAlert(ck *checker, path string) {
	if p.Lower == nil {
		ck.add(path+".lower", "is required")
	} else if *p.Lower >= p.Upper {
		ck.addRel(path+".lower", []string{path + ".upper"}, "lower %g must be below upper %g", *p.Lower, p.Upper)
	}
	if p.For < 0 {
		ck.add(path+".for", "must be >= 0")
	}
	if p.DownFor < 0 {
		ck.add(path+".down_for", "must be >= 0")
	}
	if p.StepUp < 0 {
		ck.add(path+".step_up", "must be >= 1")
	}
	if p.StepDown < 0 {
		ck.add(path+".step_down", "must be >= 1")
	}
	if p.Repeat < 0 {
		ck.add(path+".repeat", "must be >= 0")
	}
	if p.Window != 0 {
		ck.add(path+".window", "is not used by an alert policy (Prometheus evaluates the rule; put a range in the query)")
	}
	if p.Target != 0 {
		ck.add(path+".target", "is not used by an alert policy")
	}
	if len(p.Windows) > 0 {
		ck.add(path+".windows", "is not used by an alert policy")
	}
	if p.ScaleUp != nil || p.ScaleDown != nil || p.Tolerance != nil {
		ck.add(path+".scale_up", "scale_up, scale_down and tolerance are for target policies")
	}
}

// HasAlerts reports whether any app or pool asks for Prometheus alerts.
func (c *Config) HasAlerts() bool {
	for _, p := range c.Pools {
		if p.Alert != nil {
			return true
		}
	}
	for _, a := range c.Apps {
		if a.HasAlerts() {
			return true
		}
	}
	return false
}

// HasAlerts reports whether the app has a policy of type alert.
func (a *App) HasAlerts() bool {
	for _, p := range a.Policies {
		if p.Type == PolicyAlert {
			return true
		}
	}
	return false
}
