package balancer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// HAProxy's stats object types (the CSV's "type" column).
const (
	TypeFrontend = 0
	TypeBackend  = 1
	TypeServer   = 2
	TypeListener = 3
)

// Row is one line of HAProxy's stats CSV (`/stats;csv`, or `show stat` on the
// runtime API), with the columns hoist uses. Missing or empty numbers are 0.
type Row struct {
	Proxy  string // pxname
	Name   string // svname: FRONTEND, BACKEND or the server's name
	Type   int
	Status string // OPEN, UP, DOWN, MAINT (resolution), UP 1/2, ...
	Addr   string // a server's address (with stats show-legends)
	// Check is a server's last health check (L7OK, L4TOUT, L7STS, INI...).
	Check string

	QCur        int64 // requests queued now (backend, server)
	SCur        int64 // sessions now
	STot        int64 // sessions in all
	ReqTot      int64 // HTTP requests in all (frontend, backend)
	Intercepted int64 // requests answered by HAProxy itself (monitor-uri, stats)
	Hrsp5xx     int64
	ECon        int64 // connection errors to servers
	EResp       int64 // response errors
	WRetr       int64 // retries
	WRedis      int64 // redispatches
	QTime       int64 // ms, average of the last 1024 requests
	RTime       int64
	TTime       int64
}

// ErrStats is returned for text that is not HAProxy's stats CSV.
var ErrStats = errors.New("not HAProxy stats CSV")

// maxStatsRows bounds what one scrape is trusted with.
const maxStatsRows = 100_000

// ParseCSV reads HAProxy's stats CSV. The header names the columns (its
// order changes between versions); unknown columns are ignored and a row
// shorter than the header leaves the rest at zero. Fields with commas come
// quoted, as RFC 4180 has it.
func ParseCSV(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrStats, err)
	}
	if len(head) == 0 || !strings.HasPrefix(head[0], "# ") {
		return nil, fmt.Errorf("%w: the header does not start with \"# \"", ErrStats)
	}
	col := map[string]int{}
	for i, h := range head {
		if i == 0 {
			h = strings.TrimPrefix(h, "# ")
		}
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	for _, need := range []string{"pxname", "svname", "type"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: no %s column", ErrStats, need)
		}
	}
	ints := []struct {
		name string
		dst  func(*Row) *int64
	}{
		{"qcur", func(r *Row) *int64 { return &r.QCur }}, {"scur", func(r *Row) *int64 { return &r.SCur }},
		{"stot", func(r *Row) *int64 { return &r.STot }}, {"req_tot", func(r *Row) *int64 { return &r.ReqTot }},
		{"intercepted", func(r *Row) *int64 { return &r.Intercepted }}, {"hrsp_5xx", func(r *Row) *int64 { return &r.Hrsp5xx }},
		{"econ", func(r *Row) *int64 { return &r.ECon }}, {"eresp", func(r *Row) *int64 { return &r.EResp }},
		{"wretr", func(r *Row) *int64 { return &r.WRetr }}, {"wredis", func(r *Row) *int64 { return &r.WRedis }},
		{"qtime", func(r *Row) *int64 { return &r.QTime }}, {"rtime", func(r *Row) *int64 { return &r.RTime }},
		{"ttime", func(r *Row) *int64 { return &r.TTime }},
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrStats, line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rows) >= maxStatsRows {
			return nil, fmt.Errorf("%w: more than %d rows", ErrStats, maxStatsRows)
		}
		row := Row{Proxy: field(rec, "pxname"), Name: field(rec, "svname"), Status: field(rec, "status"), Addr: field(rec, "addr"),
			Check: strings.TrimLeft(field(rec, "check_status"), "* ")} // "* L7OK": a check under way
		if row.Proxy == "" || row.Name == "" {
			return nil, fmt.Errorf("%w: line %d: no proxy or object name", ErrStats, line)
		}
		t, err := strconv.Atoi(field(rec, "type"))
		if err != nil || t < TypeFrontend || t > TypeListener {
			return nil, fmt.Errorf("%w: line %d: type %q", ErrStats, line, field(rec, "type"))
		}
		row.Type = t
		for _, c := range ints {
			s := field(rec, c.name)
			if s == "" {
				continue
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%w: line %d: %s %q", ErrStats, line, c.name, s)
			}
			*c.dst(&row) = v
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Server is one backend server as HAProxy sees it.
type Server struct {
	Name   string `json:"name"`
	Addr   string `json:"addr,omitempty"`
	Status string `json:"status"`
	Check  string `json:"check,omitempty"` // its last health check, as HAProxy says it
}

// InRotation reports whether HAProxy may send the server new requests: UP,
// including "UP 1/2" (one failed check, not yet down) and a server whose
// checks are off. DOWN, MAINT, DRAIN and NOLB servers get none.
func (s Server) InRotation() bool {
	return strings.HasPrefix(s.Status, "UP") || s.Status == "no check"
}

// Summary is one balancer's figures for the app it balances (the proxy of
// the same name).
type Summary struct {
	// Requests is the frontend's HTTP requests, less those HAProxy answered
	// itself (health checks of the tier in front).
	Requests int64 `json:"requests"`
	// Sessions are the frontend's client connections now.
	Sessions int64 `json:"sessions"`
	// Queue is requests waiting for a server now.
	Queue int64 `json:"queue"`
	// TTime is the backend's mean total time of the last 1024 requests (ms).
	TTime        int64    `json:"ttime_ms"`
	Errors5xx    int64    `json:"errors_5xx"`
	ConnErrors   int64    `json:"conn_errors"`
	Retries      int64    `json:"retries"`
	Redispatches int64    `json:"redispatches"`
	Servers      []Server `json:"servers"`
}

// Up counts the servers in rotation.
func (s Summary) Up() int {
	n := 0
	for _, sv := range s.Servers {
		if sv.InRotation() {
			n++
		}
	}
	return n
}

// Summarize reads proxy's frontend, backend and servers from rows; ok is
// false when rows have no frontend and no backend of that name. Servers
// without an address (empty template slots) are left out.
func Summarize(rows []Row, proxy string) (s Summary, ok bool) {
	for _, r := range rows {
		if r.Proxy != proxy {
			continue
		}
		switch r.Type {
		case TypeFrontend:
			ok = true
			s.Requests = max(r.ReqTot-r.Intercepted, 0)
			s.Sessions = r.SCur
		case TypeBackend:
			ok = true
			s.Queue, s.TTime = r.QCur, r.TTime
			s.Errors5xx, s.ConnErrors, s.Retries, s.Redispatches = r.Hrsp5xx, r.ECon, r.WRetr, r.WRedis
		case TypeServer:
			if r.Addr != "" {
				s.Servers = append(s.Servers, Server{Name: r.Name, Addr: r.Addr, Status: r.Status, Check: r.Check})
			}
		}
	}
	return s, ok
}
