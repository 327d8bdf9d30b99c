package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nova is a stateful fake of Keystone v3 (password tokens with a service
// catalog) and Nova's /servers, speaking their wire protocols as gophercloud
// uses them. It checks what the real services check: the token on every
// compute request, the password, the server's required fields, base64 user
// data (its validation error quotes the value, as Nova's does). Faults are
// injected per operation.
type nova struct {
	t      *testing.T
	srv    *httptest.Server
	user   string
	pass   string
	token  string // the Keystone token it issues
	flavor map[string]string

	mu       sync.Mutex
	servers  map[string]*novaServer
	faults   map[string][]fault // by op: create, list, delete
	posts    int                // create requests that made a server
	listGets int
	seq      int
	seen     []string // every request line and body, for the secrets check
}

type novaServer struct {
	ID        string                      `json:"id"`
	Name      string                      `json:"name"`
	Status    string                      `json:"status"`
	TaskState *string                     `json:"OS-EXT-STS:task_state"`
	Created   string                      `json:"created"`
	Metadata  map[string]string           `json:"metadata"`
	Addresses map[string][]map[string]any `json:"addresses"`
	KeyName   string                      `json:"key_name,omitempty"`
	Flavor    map[string]any              `json:"flavor"`
	Image     map[string]any              `json:"image"`

	userData  []byte // decoded
	seq       int
	listed    int // lists that saw it: BUILD turns ACTIVE on the second
	deletedAt int // list count when deleted; gone one list later
	az        string
	groups    []string
	network   string
}

// fault is one injected failure: kind is "500-after-commit",
// "timeout-after-commit", or "409", "429", "500", "400-echo" (refused before
// anything is done).
type fault struct{ kind string }

func newNova(t *testing.T) *nova {
	f := &nova{t: t, user: "hoist-user", pass: "os-password-" + randHex(8), token: "gAAAA-keystone-" + randHex(16),
		flavor:  map[string]string{"f-small": "m1.small", "f-large": "m1.large"},
		servers: map[string]*novaServer{}, faults: map[string][]fault{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /identity/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"version": map[string]any{"id": "v3.14", "status": "stable"}})
	})
	mux.HandleFunc("POST /identity/v3/auth/tokens", f.auth)
	mux.HandleFunc("/compute/v2.1/", f.compute)
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (f *nova) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.String())
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (f *nova) inject(op, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], fault{kind})
}

func (f *nova) nextFault(op string) string {
	if q := f.faults[op]; len(q) > 0 {
		f.faults[op] = q[1:]
		return q[0].kind
	}
	return ""
}

func (f *nova) auth(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   struct {
							Name string `json:"name"`
							ID   string `json:"id"`
						} `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name string `json:"name"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"code": 400, "message": "malformed request"}})
		return
	}
	id := req.Auth.Identity
	if len(id.Methods) != 1 || id.Methods[0] != "password" || id.Password.User.Name != f.user || id.Password.User.Password != f.pass ||
		(id.Password.User.Domain.Name == "" && id.Password.User.Domain.ID == "") {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
		return
	}
	if req.Auth.Scope.Project.Name != "hoist" {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "no such project"}})
		return
	}
	w.Header().Set("X-Subject-Token", f.token)
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"methods":    []string{"password"},
		"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
		"project":    map[string]any{"id": "p1", "name": "hoist", "domain": map[string]any{"id": "default", "name": "Default"}},
		"catalog": []any{
			map[string]any{"type": "identity", "name": "keystone", "id": "s1", "endpoints": []any{
				map[string]any{"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.srv.URL + "/identity/v3/"}}},
			map[string]any{"type": "compute", "name": "nova", "id": "s2", "endpoints": []any{
				map[string]any{"id": "e2", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": f.srv.URL + "/compute/v2.1/"},
				map[string]any{"id": "e3", "interface": "public", "region": "OtherRegion", "region_id": "OtherRegion", "url": "http://other.invalid/v2.1/"}}},
		},
	}})
}

func novaErr(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, map[string]any{kind: map[string]any{"code": code, "message": msg}})
}

func (f *nova) compute(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Auth-Token") != f.token {
		novaErr(w, 401, "unauthorized", "The request you have made requires authentication.")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/compute/v2.1")
	switch {
	case r.Method == "POST" && path == "/servers":
		f.create(w, r)
	case r.Method == "GET" && (path == "/servers/detail" || path == "/servers"):
		f.list(w, r)
	case r.Method == "DELETE" && strings.HasPrefix(path, "/servers/"):
		f.delete(w, r, strings.TrimPrefix(path, "/servers/"))
	case r.Method == "GET" && path == "/flavors/detail":
		var fl []any
		for id, name := range f.flavor {
			fl = append(fl, map[string]any{"id": id, "name": name, "ram": 2048, "vcpus": 2, "disk": 20})
		}
		writeJSON(w, 200, map[string]any{"flavors": fl})
	case r.Method == "GET" && strings.HasPrefix(path, "/flavors/"):
		id := strings.TrimPrefix(path, "/flavors/")
		name, ok := f.flavor[id]
		if !ok {
			novaErr(w, 404, "itemNotFound", "Flavor "+id+" could not be found.")
			return
		}
		writeJSON(w, 200, map[string]any{"flavor": map[string]any{"id": id, "name": name, "ram": 2048, "vcpus": 2, "disk": 20}})
	default:
		novaErr(w, 404, "itemNotFound", "no route "+r.Method+" "+path)
	}
}

// failAfter answers a committed request with the fault: a 500, or no answer
// until the client gives up.
func failAfter(w http.ResponseWriter, r *http.Request, kind string) bool {
	switch kind {
	case "500-after-commit":
		novaErr(w, 500, "computeFault", "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/")
		return true
	case "timeout-after-commit":
		<-r.Context().Done()
		return true
	}
	return false
}

func (f *nova) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Server map[string]json.RawMessage `json:"server"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Server == nil {
		novaErr(w, 400, "badRequest", "Malformed request body")
		return
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(req.Server[k], &s)
		return s
	}
	f.mu.Lock()
	kind := f.nextFault("create")
	f.mu.Unlock()
	switch kind {
	case "409":
		novaErr(w, 409, "conflictingRequest", "Conflict updating instance. Try again.")
		return
	case "429":
		w.Header().Set("Retry-After", "1")
		novaErr(w, 429, "overLimit", "This request was rate-limited.")
		return
	case "500":
		novaErr(w, 500, "computeFault", "Unexpected API Error.")
		return
	case "400-echo":
		// As Nova's schema validation answers, quoting the value.
		novaErr(w, 400, "badRequest", fmt.Sprintf("Invalid input for field/attribute user_data. Value: %s. Additional properties are not allowed", str("user_data")))
		return
	}
	name, flavor, image, ud := str("name"), str("flavorRef"), str("imageRef"), str("user_data")
	switch {
	case name == "":
		novaErr(w, 400, "badRequest", "Invalid input for field/attribute name. Value: None. None is not of type 'string'")
		return
	case f.flavor[flavor] == "":
		novaErr(w, 400, "badRequest", "Flavor "+flavor+" could not be found.")
		return
	case image == "":
		novaErr(w, 400, "badRequest", "Invalid input for field/attribute imageRef.")
		return
	}
	dec, err := base64.StdEncoding.DecodeString(ud)
	if err != nil || len(ud) > 65535 {
		// Nova quotes the bad value: the provider must keep it out of events.
		novaErr(w, 400, "badRequest", fmt.Sprintf("Invalid input for field/attribute user_data. Value: %s. '%s' is not a 'base64'", ud, ud))
		return
	}
	var meta map[string]string
	if raw, ok := req.Server["metadata"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			novaErr(w, 400, "badRequest", "Invalid input for field/attribute metadata.")
			return
		}
	}
	var groups []string
	var sgs []map[string]string
	json.Unmarshal(req.Server["security_groups"], &sgs)
	for _, g := range sgs {
		groups = append(groups, g["name"])
	}
	var nets []map[string]string
	json.Unmarshal(req.Server["networks"], &nets)
	network := ""
	if len(nets) > 0 {
		network = nets[0]["uuid"]
	}
	f.mu.Lock()
	f.seq++
	f.posts++
	s := &novaServer{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", f.seq*7919%65536, f.seq), Name: name, Status: "BUILD",
		Created: time.Now().UTC().Format("2006-01-02T15:04:05Z"), Metadata: meta, KeyName: str("key_name"),
		Flavor: map[string]any{"id": flavor}, Image: map[string]any{"id": image}, Addresses: map[string][]map[string]any{},
		userData: dec, seq: f.seq, az: str("availability_zone"), groups: groups, network: network}
	f.servers[s.ID] = s
	f.mu.Unlock()
	if failAfter(w, r, kind) {
		return
	}
	writeJSON(w, 202, map[string]any{"server": map[string]any{"id": s.ID, "adminPass": "x", "links": []any{},
		"OS-DCF:diskConfig": "MANUAL", "security_groups": sgs}})
}

const novaPage = 3 // small, so listing follows servers_links

func (f *nova) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.nextFault("list") {
	case "500":
		novaErr(w, 500, "computeFault", "Unexpected API Error.")
		return
	case "429":
		w.Header().Set("Retry-After", "1")
		novaErr(w, 429, "overLimit", "This request was rate-limited.")
		return
	}
	q := r.URL.Query()
	var re *regexp.Regexp
	if n := q.Get("name"); n != "" {
		var err error
		if re, err = regexp.Compile(n); err != nil {
			novaErr(w, 400, "badRequest", "bad name filter")
			return
		}
	}
	f.listGets++
	all := make([]*novaServer, 0, len(f.servers))
	for id, s := range f.servers {
		if s.deletedAt > 0 && f.listGets > s.deletedAt+1 {
			delete(f.servers, id) // deletion finished
			continue
		}
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	start := 0
	if m := q.Get("marker"); m != "" {
		start = -1
		for i, s := range all {
			if s.ID == m {
				start = i + 1
			}
		}
		if start < 0 {
			novaErr(w, 400, "badRequest", "marker ["+m+"] not found")
			return
		}
	}
	limit := novaPage
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < limit {
		limit = l
	}
	var page []any
	last := ""
	i := start
	for ; i < len(all) && len(page) < limit; i++ {
		s := all[i]
		if re != nil && !re.MatchString(s.Name) {
			continue
		}
		s.listed++
		if s.Status == "BUILD" && s.listed >= 2 {
			s.Status = "ACTIVE"
			s.Addresses = map[string][]map[string]any{"private": {{"addr": fmt.Sprintf("10.0.0.%d", 10+s.seq%200), "version": 4}}}
		}
		page = append(page, s)
		last = s.ID
	}
	body := map[string]any{"servers": page}
	if i < len(all) && last != "" {
		u := *r.URL
		qq := u.Query()
		qq.Set("marker", last)
		u.RawQuery = qq.Encode()
		body["servers_links"] = []any{map[string]any{"rel": "next", "href": f.srv.URL + u.Path + "?" + u.RawQuery}}
	}
	writeJSON(w, 200, body)
}

func (f *nova) delete(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	kind := f.nextFault("delete")
	if kind == "500" {
		f.mu.Unlock()
		novaErr(w, 500, "computeFault", "Unexpected API Error.")
		return
	}
	s, ok := f.servers[id]
	if ok && s.deletedAt == 0 {
		st := "deleting"
		s.TaskState = &st
		s.deletedAt = f.listGets
	}
	f.mu.Unlock()
	if !ok {
		novaErr(w, 404, "itemNotFound", "Instance "+id+" could not be found.")
		return
	}
	if failAfter(w, r, kind) {
		return
	}
	w.WriteHeader(204)
}

// named returns the servers of a name not being deleted.
func (f *nova) named(name string) []*novaServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*novaServer
	for _, s := range f.servers {
		if s.Name == name && s.deletedAt == 0 {
			out = append(out, s)
		}
	}
	return out
}

// addForeign adds a server hoist did not make, or one of another pool.
func (f *nova) addForeign(name string, meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	s := &novaServer{ID: fmt.Sprintf("foreign-%d", f.seq), Name: name, Status: "ACTIVE", Created: time.Now().UTC().Format(time.RFC3339),
		Metadata: meta, seq: f.seq, Addresses: map[string][]map[string]any{}}
	f.servers[s.ID] = s
}
