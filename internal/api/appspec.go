package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/config"
)

// An app arrives as JSON with the descriptor's field names ("replicas":
// {"min": 2}, "memory": "512MiB"). It is checked by the descriptor's own
// strict parser, so the API and `hoist validate` accept and reject exactly
// the same apps, with the same field paths: the app is placed in a small
// descriptor beside the real pools' names and shapes, parsed, and the
// errors' "apps[0]." prefix removed.

// decodeObject reads a JSON object, keeping numbers exact.
func decodeObject(body []byte) (map[string]any, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, badRequest("", "the body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("", "the body must be a JSON object")
	}
	return normalize(m).(map[string]any), nil
}

// normalize turns json.Numbers into int64 or float64 so that YAML writes them
// as numbers; a number neither can hold stays text and fails the field's check.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// parseApp checks an app given as a JSON object against pools, completing
// its defaults.
func parseApp(spec map[string]any, pools []config.Pool) (config.App, []Problem) {
	var ps []any
	for _, p := range pools {
		ps = append(ps, map[string]any{"name": p.Name, "provider": "sim", "min": 0, "max": 1,
			"machine": map[string]any{"cpus": p.Machine.CPUs, "memory": int64(p.Machine.Memory)}})
	}
	if len(ps) == 0 {
		return config.App{}, []Problem{{"pools", "the descriptor has no pool"}}
	}
	doc := map[string]any{"pools": ps, "apps": []any{spec}}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return config.App{}, []Problem{{"", "cannot encode the app: " + err.Error()}}
	}
	cfg, err := config.Parse("request", data)
	if err != nil {
		var errs config.Errors
		if !errors.As(err, &errs) {
			return config.App{}, []Problem{{"", err.Error()}}
		}
		var probs []Problem
		for _, e := range errs {
			field := e.Path
			switch {
			case field == "apps[0]":
				field = ""
			case strings.HasPrefix(field, "apps[0]."):
				field = strings.TrimPrefix(field, "apps[0].")
			case strings.HasPrefix(field, "pools"):
				// Only the names and shapes of real pools are here: an app
				// cannot make them wrong, but say it rather than hide it.
				field = ""
			}
			probs = append(probs, Problem{Field: field, Message: e.Msg})
		}
		return config.App{}, probs
	}
	if len(cfg.Apps) != 1 {
		return config.App{}, []Problem{{"", "exactly one app is expected"}}
	}
	app := cfg.Apps[0]
	pm := map[string]*config.Pool{}
	for i := range pools {
		pm[pools[i].Name] = &pools[i]
	}
	var probs []Problem
	for _, e := range app.Check(pm) {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			probs = append(probs, Problem{Field: fe.Path, Message: fe.Msg})
		} else {
			probs = append(probs, Problem{Message: e.Error()})
		}
	}
	return app, probs
}

// appSpec renders an app as the JSON the API takes (the descriptor's names).
func appSpec(a config.App) (map[string]any, error) {
	data, err := yaml.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode app %s: %w", a.Name, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("encode app %s: %w", a.Name, err)
	}
	return dropEmpty(m).(map[string]any), nil
}

// dropEmpty removes nulls, empty strings, false and empty lists and maps:
// unset fields, which say nothing.
func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = dropEmpty(e)
			if isEmpty(e) {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
	case []any:
		for i, e := range x {
			x[i] = dropEmpty(e)
		}
	}
	return v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// Fields of an app a policy update may set.
var policyFields = []string{"replicas", "cooldown", "policies"}

// patchPolicy applies a policy update (a JSON object of replicas, cooldown
// and/or policies) to app and checks the result.
func patchPolicy(app config.App, patch map[string]any, pools []config.Pool) (config.App, []Problem) {
	var probs []Problem
	for k := range patch {
		if !contains(policyFields, k) {
			probs = append(probs, Problem{Field: k, Message: "unknown field (a policy update takes " + strings.Join(policyFields, ", ") + ")"})
		}
	}
	if len(probs) > 0 {
		return config.App{}, probs
	}
	spec, err := appSpec(app)
	if err != nil {
		return config.App{}, []Problem{{"", err.Error()}}
	}
	for _, k := range policyFields {
		if v, ok := patch[k]; ok {
			spec[k] = v
		}
	}
	return parseApp(spec, pools)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
