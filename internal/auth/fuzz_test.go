package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/fuzzbudget"
)

// FuzzParseTokens: any file is parsed or refused within its budget; an
// error never repeats a word long enough to be a token; every accepted
// line's token has its role.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{
		"admin admin-token-0123456789\n",
		"# comment\n\nviewer v-0123456789abcdef\r\noperator o-0123456789abcdef\n",
		"s3cr3t-token-0123456789 admin\n", // swapped: the error must not show the token
		"admin short\n", "admin a b\n", "webhook w-0123456789abcdef\nwebhook w-0123456789abcdef\n",
		"ADMIN\tX-0123456789abcdef", "", strings.Repeat("x", 70000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var tk *Tokens
		var err error
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 512 << 10, PerByte: 16}, len(data), func() {
			tk, err = ParseTokens(strings.NewReader(data))
		})
		if err != nil {
			for _, w := range strings.Fields(data) {
				if len(w) >= MinTokenLen && strings.Contains(err.Error(), w) {
					t.Fatalf("the error shows a token-like word %q: %v", w, err)
				}
			}
			return
		}
		if tk.Len() == 0 {
			t.Fatal("accepted a file without tokens")
		}
		for _, line := range strings.Split(data, "\n") {
			fs := strings.Fields(line)
			if len(fs) != 2 || strings.HasPrefix(fs[0], "#") {
				continue
			}
			want, _ := ParseRole(fs[0])
			if got, ok := tk.Lookup(fs[1]); !ok || got != want {
				t.Fatalf("token of line %q: %v %v", line, got, ok)
			}
		}
	})
}

// FuzzAuthorization: any Authorization header is answered 200, 401 or 403
// within its budget, and 200 only for "Bearer" (any case) and a known token.
func FuzzAuthorization(f *testing.F) {
	const viewer, admin = "viewer-token-0123456789", "admin-token-0123456789"
	tk, err := ParseTokens(strings.NewReader("viewer " + viewer + "\nadmin " + admin))
	if err != nil {
		f.Fatal(err)
	}
	// No rate limit here: every answer must follow from the header alone.
	a := New(tk, Options{Burst: 1 << 30})
	h := a.Require(RoleOperator, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, s := range []string{"Bearer " + admin, "bearer   " + admin + "  ", "Bearer " + viewer, "Basic YWRtaW46eA==", "Bearer", "Bearer ", "", "Bearer " + admin + "x", "BEARER\t" + admin} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		w := httptest.NewRecorder()
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 64 << 10, PerByte: 4}, len(header), func() { h.ServeHTTP(w, r) })
		switch w.Code {
		case 200:
			if len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") || strings.TrimSpace(header[7:]) != admin {
				t.Fatalf("accepted %q", header)
			}
		case 401, 403:
			if !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("%d without the JSON error", w.Code)
			}
			if w.Code == 403 && strings.TrimSpace(header[7:]) != viewer {
				t.Fatalf("403 for %q", header)
			}
		default:
			t.Fatalf("%q: status %d", header, w.Code)
		}
	})
}
