package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/prom"
)

// QueryChecker asks Prometheus about PromQL before it is accepted
// (prom.Client): its parser's message is the API's answer, and no rule file
// is written with an expression Prometheus would refuse.
type QueryChecker interface {
	// CheckQuery returns why query cannot give a policy its value (bad
	// PromQL, or not an instant vector or scalar); nil if it can.
	CheckQuery(ctx context.Context, query string) error
	// CheckExpr returns why expr is not valid PromQL; nil if it is.
	CheckExpr(ctx context.Context, expr string) error
}

var _ QueryChecker = (*prom.Client)(nil)

// checkQueries asks Prometheus about every query of app's policies, and
// about the expressions of the alert rules they make. It talks to
// Prometheus: never call it holding s.mu.
func (s *Server) checkQueries(ctx context.Context, app config.App) *Error {
	if s.opt.Queries == nil {
		return nil
	}
	var probs []Problem
	for i, p := range app.Policies {
		if p.Query == "" {
			continue
		}
		field := fmt.Sprintf("policies[%d].query", i)
		if err := s.opt.Queries.CheckQuery(ctx, p.Query); err != nil {
			if e := queryError(field, err); e.Status != http.StatusBadRequest {
				return e
			}
			probs = append(probs, Problem{field, promMessage(err)})
		}
	}
	if len(probs) > 0 {
		return invalid(probs)
	}
	// The queries parse alone; the rule expressions built on them (query >
	// threshold) must too: what is written is what Prometheus reads.
	if rf, ok := alerting.AppRules(&app); ok {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if err := s.opt.Queries.CheckExpr(ctx, r.Expr); err != nil {
					field := "policies[" + r.Labels[alerting.LabelPolicy] + "].query"
					if e := queryError(field, err); e.Status != http.StatusBadRequest {
						return e
					}
					probs = append(probs, Problem{field, fmt.Sprintf("alert rule %s: %s: %s", r.Alert, r.Expr, promMessage(err))})
				}
			}
		}
	}
	if len(probs) > 0 {
		return invalid(probs)
	}
	return nil
}

// queryError: refused by Prometheus is the client's error (400); Prometheus
// unreachable is ours (503), and nothing is accepted unchecked.
func queryError(field string, err error) *Error {
	if errors.Is(err, prom.ErrQuery) {
		return badRequest(field, "%s", promMessage(err))
	}
	return errf(http.StatusServiceUnavailable, "unavailable", field, "cannot check the query with Prometheus, nothing changed; retry: %v", err)
}

// promMessage is Prometheus's own words ("1:5: parse error: ..."), without
// the wrapping that says which error kind it is, over which HTTP status, and
// that a policy would have no data.
func promMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), prom.ErrQuery.Error()+": ")
	if rest, ok := strings.CutSuffix(msg, ": no data"); ok {
		msg = rest
	}
	if _, rest, ok := strings.Cut(msg, "HTTP "); ok && strings.HasPrefix(msg, "HTTP ") {
		if _, rest, ok = strings.Cut(rest, ": "); ok {
			msg = rest
		}
	}
	msg = strings.TrimPrefix(msg, "bad_data: ")
	msg = strings.TrimPrefix(msg, `invalid parameter "query": `)
	return "Prometheus: " + msg
}

// checkCandidate runs the descriptor's own validation over the apps in
// force with app in place of any app of its name: the rules that involve
// several apps (a balancer's app name "NAME-lb" must be free, two balancers
// may not publish one port) hold for API apps exactly as for descriptor
// ones. Only problems app brings are reported. Call it holding s.mu, so
// that the apps it sees are the ones app joins.
func (s *Server) checkCandidate(app config.App) []Problem {
	cur := s.opt.Engine.Config()
	others := make([]config.App, 0, len(cur.Apps))
	for _, a := range cur.Apps {
		if a.Name != app.Name {
			others = append(others, a)
		}
	}
	for _, a := range s.opt.Catalog.Apps() {
		if _, inDescriptor := cur.App(a.Name); !inDescriptor && a.Name != app.Name {
			others = append(others, a)
		}
	}
	without := *cur
	without.Apps = others
	before := map[string]bool{}
	for _, fe := range fieldErrors(without.Validate()) {
		before[fe.Path+"\x00"+fe.Msg] = true
	}
	with := *cur
	with.Apps = append(append(make([]config.App, 0, len(others)+1), others...), app)
	prefix := fmt.Sprintf("apps[%d]", len(others))
	var probs []Problem
	for _, fe := range fieldErrors(with.Validate()) {
		if before[fe.Path+"\x00"+fe.Msg] {
			continue // not app's doing
		}
		switch {
		case fe.Path == prefix:
			probs = append(probs, Problem{"", fe.Msg})
		case strings.HasPrefix(fe.Path, prefix+"."):
			probs = append(probs, Problem{strings.TrimPrefix(fe.Path, prefix+"."), fe.Msg})
		default:
			// Another app's rule that app's arrival breaks: its name.
			probs = append(probs, Problem{"name", fmt.Sprintf("conflicts with %s: %s", describePath(with.Apps, fe.Path), fe.Msg)})
		}
	}
	return probs
}

// describePath names the app of an "apps[i]..." path.
func describePath(apps []config.App, path string) string {
	var i int
	var rest string
	if n, _ := fmt.Sscanf(path, "apps[%d]", &i); n == 1 && i >= 0 && i < len(apps) {
		_, rest, _ = strings.Cut(path, "]")
		return fmt.Sprintf("app %q (%s)", apps[i].Name, strings.TrimPrefix(rest, "."))
	}
	return path
}

func fieldErrors(err error) config.Errors {
	var errs config.Errors
	if errors.As(err, &errs) {
		return errs
	}
	if err != nil {
		return config.Errors{{Msg: err.Error()}}
	}
	return nil
}
