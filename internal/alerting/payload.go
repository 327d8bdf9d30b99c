package alerting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/policy"
)

// Payload mirrors Alertmanager's webhook notification, version 4 (the
// fixture in testdata was recorded from Alertmanager 0.25).
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert mirrors one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ErrPayload is wrapped by every reason a notification is refused.
var ErrPayload = errors.New("bad alertmanager payload")

// Limits of one notification: far beyond what one alert group carries.
const (
	MaxPayload = 1 << 20
	maxAlerts  = 10_000
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// appNameRE is config's rule for app names: '_' too, for a stack's
// services (shop_web).
var appNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// Decode reads and checks a notification. It refuses the whole notification
// on any problem, so a bad one never changes hoist's state in part.
func Decode(r io.Reader) (*Payload, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading: %w", ErrPayload, err)
	}
	if len(data) > MaxPayload {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrPayload, MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var p Payload
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrPayload)
	}
	if p.Version != "4" {
		return nil, fmt.Errorf("%w: version %q, want \"4\" (Alertmanager 0.x webhook)", ErrPayload, p.Version)
	}
	if len(p.Alerts) > maxAlerts {
		return nil, fmt.Errorf("%w: %d alerts", ErrPayload, len(p.Alerts))
	}
	for i, a := range p.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return nil, fmt.Errorf("%w: alerts[%d].status %q is neither firing nor resolved", ErrPayload, i, a.Status)
		}
		if _, _, err := classify(a); err != nil {
			return nil, fmt.Errorf("%w: alerts[%d]: %w", ErrPayload, i, err)
		}
	}
	return &p, nil
}

// target is what an alert asks hoist to scale.
type target struct {
	app, pool string
	policy    int // the app's policy index; -1 when the alert names none
	kind      string
	name      string
}

// classify reads an alert's subject and direction from its labels. ok is
// false for alerts that are not hoist's (another receiver's rules).
func classify(a Alert) (t target, ok bool, err error) {
	t.name = a.Labels["alertname"]
	low := strings.ToLower(t.name)
	switch {
	case strings.Contains(low, "underloaded"):
		t.kind = policy.Underloaded
	case strings.Contains(low, "overloaded"):
		t.kind = policy.Overloaded
	default:
		return t, false, nil
	}
	t.app, t.pool, t.policy = a.Labels[LabelApp], a.Labels[LabelPool], -1
	switch {
	case t.app == "" && t.pool == "":
		return t, false, nil
	case t.app != "" && t.pool != "":
		return t, false, fmt.Errorf("%s and %s both set: an alert scales an app or a pool", LabelApp, LabelPool)
	case t.app != "" && !appNameRE.MatchString(t.app):
		return t, false, fmt.Errorf("%s %q is not an app name", LabelApp, t.app)
	case t.pool != "" && !nameRE.MatchString(t.pool):
		return t, false, fmt.Errorf("%s %q is not a pool name", LabelPool, t.pool)
	}
	if s, set := a.Labels[LabelPolicy]; set && t.app != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return t, false, fmt.Errorf("%s %q is not a policy index", LabelPolicy, s)
		}
		t.policy = n
	}
	if a.Fingerprint == "" {
		return t, false, errors.New("no fingerprint")
	}
	return t, true, nil
}
