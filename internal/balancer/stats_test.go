package balancer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func readCSV(t *testing.T, name string) []Row {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ParseCSV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// testdata/stats-swarm.csv is HAProxy 2.6 in hoist's image on a local
// machine, balancing three tasks of "web" with 10 template slots, after
// 3,000 requests; stats-states.csv is the same HAProxy on loopback with a
// server UP, one DOWN (connection refused) and one in MAINT.
func TestParseRealStats(t *testing.T) {
	rows := readCSV(t, "stats-swarm.csv")
	if len(rows) != 13 {
		t.Fatalf("%d rows, want 13", len(rows))
	}
	s, ok := Summarize(rows, "web")
	if !ok {
		t.Fatal("no proxy web")
	}
	fe := rows[0]
	if fe.Name != "FRONTEND" || fe.Type != TypeFrontend || fe.ReqTot == 0 {
		t.Errorf("frontend row %+v", fe)
	}
	if s.Requests != fe.ReqTot-fe.Intercepted {
		t.Errorf("requests %d, want req_tot %d less intercepted %d", s.Requests, fe.ReqTot, fe.Intercepted)
	}
	if len(s.Servers) != 3 || s.Up() != 3 {
		t.Errorf("servers %+v: want the 3 resolved ones, all up", s.Servers)
	}
	for _, sv := range s.Servers {
		if !strings.HasPrefix(sv.Addr, "10.0.3.") || !strings.HasSuffix(sv.Addr, ":8080") {
			t.Errorf("server address %q", sv.Addr)
		}
	}
	if _, ok := Summarize(rows, "nope"); ok {
		t.Error("a proxy that is not there was found")
	}

	rows = readCSV(t, "stats-states.csv")
	s, _ = Summarize(rows, "web")
	status := map[string]string{}
	for _, sv := range s.Servers {
		status[sv.Name] = sv.Status + " " + sv.Check
	}
	want := map[string]string{"up1": "UP L7OK", "down1": "DOWN L4CON", "maint1": "MAINT "}
	if !reflect.DeepEqual(status, want) {
		t.Errorf("statuses and checks %v, want %v", status, want)
	}
	if s.Up() != 1 {
		t.Errorf("%d in rotation, want 1", s.Up())
	}
	if s.Requests != 6 {
		t.Errorf("requests %d, want 6 (7 less the health check)", s.Requests)
	}
}

func TestInRotation(t *testing.T) {
	for status, want := range map[string]bool{
		"UP": true, "UP 1/2": true, "no check": true, "DOWN": false, "DOWN 1/2": false,
		"MAINT": false, "MAINT (resolution)": false, "MAINT (via web/x)": false, "DRAIN": false, "NOLB": false, "": false,
	} {
		if got := (Server{Status: status}).InRotation(); got != want {
			t.Errorf("%q: in rotation %v, want %v", status, got, want)
		}
	}
}

func TestParseCSVErrors(t *testing.T) {
	for name, text := range map[string]string{
		"empty":         "",
		"no header":     "web,FRONTEND,0\n",
		"no type":       "# pxname,svname\nweb,FRONTEND\n",
		"bad type":      "# pxname,svname,type\nweb,FRONTEND,9\n",
		"text count":    "# pxname,svname,type,req_tot\nweb,FRONTEND,0,many\n",
		"negative":      "# pxname,svname,type,scur\nweb,FRONTEND,0,-1\n",
		"no proxy name": "# pxname,svname,type\n,FRONTEND,0\n",
		"html":          "<html><body>503 Service Unavailable</body></html>\n",
	} {
		if _, err := ParseCSV(strings.NewReader(text)); !errors.Is(err, ErrStats) {
			t.Errorf("%s: got %v, want ErrStats", name, err)
		}
	}
	// Columns in another order, a short row, a quoted field with a comma.
	rows, err := ParseCSV(strings.NewReader("# type,svname,pxname,check_desc,req_tot,scur\n" +
		"0,FRONTEND,web,,12,3\n2,web1,web,\"Layer4 connection problem, info: \"\"refused\"\"\",4\n1,BACKEND,web\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].ReqTot != 12 || rows[0].SCur != 3 || rows[1].ReqTot != 4 || rows[2].Type != TypeBackend {
		t.Errorf("rows %+v", rows)
	}
}

// format writes rows back as HAProxy would, for the round trip below.
func format(rows []Row) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"# pxname", "svname", "qcur", "scur", "stot", "ereq", "econ", "eresp", "wretr", "wredis", "status",
		"type", "hrsp_5xx", "req_tot", "qtime", "rtime", "ttime", "addr", "intercepted", "check_status"})
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range rows {
		w.Write([]string{r.Proxy, r.Name, n(r.QCur), n(r.SCur), n(r.STot), "", n(r.ECon), n(r.EResp), n(r.WRetr), n(r.WRedis),
			r.Status, strconv.Itoa(r.Type), n(r.Hrsp5xx), n(r.ReqTot), n(r.QTime), n(r.RTime), n(r.TTime), r.Addr, n(r.Intercepted), r.Check})
	}
	w.Flush()
	return b.String()
}

// FuzzParseCSV: whatever a stats port answers (a proxy in the way, a
// truncated body, another version's columns), parsing never panics, every
// figure it accepts is a non-negative count, and what it accepts reads back
// the same once written out again.
func FuzzParseCSV(f *testing.F) {
	for _, name := range []string{"stats-swarm.csv", "stats-states.csv"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("# pxname,svname,type\nweb,FRONTEND,0\n"))
	f.Add([]byte("# pxname,svname,type,status\nweb,\"a,b\",2,\"UP\"\"\"\n"))
	f.Add([]byte("# \n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseCSV(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrStats) {
				t.Fatalf("error %v does not wrap ErrStats", err)
			}
			return
		}
		proxies := map[string]bool{}
		for _, r := range rows {
			if r.Proxy == "" || r.Name == "" || r.Type < TypeFrontend || r.Type > TypeListener {
				t.Fatalf("accepted row %+v", r)
			}
			for _, v := range []int64{r.QCur, r.SCur, r.STot, r.ReqTot, r.Intercepted, r.Hrsp5xx, r.ECon, r.EResp, r.WRetr, r.WRedis, r.QTime, r.RTime, r.TTime} {
				if v < 0 {
					t.Fatalf("negative figure in %+v", r)
				}
			}
			proxies[r.Proxy] = true
		}
		for p := range proxies {
			s, _ := Summarize(rows, p)
			if s.Requests < 0 || s.Up() > len(s.Servers) {
				t.Fatalf("summary %+v", s)
			}
		}
		again, err := ParseCSV(strings.NewReader(format(rows)))
		if err != nil {
			t.Fatalf("rows written back do not parse: %v", err)
		}
		if len(rows) == 0 {
			rows = nil
		}
		if !reflect.DeepEqual(again, rows) {
			t.Fatalf("round trip changed the rows:\n%+v\n%+v", rows, again)
		}
	})
}
