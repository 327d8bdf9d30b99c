package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/series"
)

// Series is the recorder of every app's and pool's figures after each tick
// (internal/series), which the dashboard charts; nil: the routes answer 501.
type Series interface {
	App(name string, after time.Time) (series.AppSeries, bool)
	Pool(name string, after time.Time) (series.PoolSeries, bool)
	Latest() series.Latest
}

var _ Series = (*series.Recorder)(nil)

func (s *Server) noSeries() *Error {
	return errf(http.StatusNotImplemented, "unavailable", "", "this server records no time series")
}

// afterParam reads after= as Unix seconds (what the series' t column holds,
// to the millisecond) or RFC 3339.
func afterParam(r *http.Request) (time.Time, *Error) {
	v := r.URL.Query().Get("after")
	if v == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e11 {
		// Samples are kept to the millisecond: rounding there makes a t
		// value sent back exclude its own sample exactly.
		return time.UnixMilli(int64(math.Round(f * 1000))), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("after", "must be Unix seconds or an RFC 3339 time, not %q", v)
}

func (s *Server) latestSeries(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Series == nil {
		return s.noSeries()
	}
	writeJSON(w, http.StatusOK, s.opt.Series.Latest())
	return nil
}

func (s *Server) appSeries(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Series == nil {
		return s.noSeries()
	}
	name := r.PathValue("name")
	if _, _, ok := s.findApp(name); !ok {
		return notFound("name", "no app named %q", name)
	}
	after, e := afterParam(r)
	if e != nil {
		return e
	}
	out, _ := s.opt.Series.App(name, after) // no sample yet: empty columns
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) poolSeries(w http.ResponseWriter, r *http.Request) error {
	if s.opt.Series == nil {
		return s.noSeries()
	}
	p, e := s.pool(r.PathValue("name"))
	if e != nil {
		return e
	}
	after, e := afterParam(r)
	if e != nil {
		return e
	}
	out, _ := s.opt.Series.Pool(p.Name, after)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// whoami tells a client (the dashboard) its token's role, so it can hide
// what the role may not do; the API refuses it anyway.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	open := s.opt.Auth == nil || s.opt.Auth.Open()
	role := auth.RoleFrom(r.Context())
	if open {
		role = auth.RoleAdmin
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": role.String(), "open": open})
	return nil
}
