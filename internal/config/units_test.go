package config

import (
	"strings"
	"testing"

	units "github.com/docker/go-units"
)

// Memory sizes are read as Docker reads them: docker service create's
// --limit-memory and Compose's memory fields both use go-units' RAMInBytes,
// the outside reference here. hoist's only addition is Ki/Mi/Gi/Ti/Pi.
func TestParseBytesAsDocker(t *testing.T) {
	cases := []struct {
		in   string
		want Bytes // -1: refused
	}{
		{"512m", 512 << 20}, {"512M", 512 << 20}, {"512MB", 512 << 20}, {"512mb", 512 << 20}, {"512MiB", 512 << 20},
		{"512 MB", 512 << 20}, {"4GB", 4 << 30}, {"4g", 4 << 30}, {"4GiB", 4 << 30}, {"1.5g", 3 << 29}, {".5g", 1 << 29},
		{"1kb", 1024}, {"1KiB", 1024}, {"2k", 2048}, {"1t", 1 << 40}, {"1p", 1 << 50}, {"100", 100}, {"100b", 100},
		{"100B", 100}, {"1.9", 1}, {"0.5k", 512}, {"1e3k", 1000 << 10}, {"1.m", 1 << 20}, {"+5m", 5 << 20},
		{"", -1}, {"m", -1}, {"lots", -1}, {"-1m", -1}, {"1x", -1}, {"1mbb", -1}, {"1bb", -1}, {"1mib ", -1},
		{" 1m", -1}, {"1.2.3m", -1}, {"NaN", -1}, {"Inf", -1}, {"1e400", -1}, {"1kbit", -1}, {"1 m b", -1},
	}
	for _, tc := range cases {
		got, err := ParseBytes(tc.in)
		ref, refErr := units.RAMInBytes(tc.in)
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("ParseBytes(%q) = %d, want refused", tc.in, got)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		// The table agrees with Docker's own reading.
		if (err == nil) != (refErr == nil) || err == nil && int64(got) != ref {
			t.Errorf("%q: hoist reads %d (%v), Docker %d (%v)", tc.in, got, err, ref, refErr)
		}
	}
	// hoist's additions, Kubernetes' binary suffixes, which Docker refuses.
	for in, want := range map[string]Bytes{"1.5Gi": 3 << 29, "512Mi": 512 << 20, "1Ki": 1024, "2Ti": 2 << 40, "1gi": 1 << 30} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseBytes("99999999999p"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("overflow: %v", err)
	}
}

// FuzzParseBytes: on any input without hoist's Ki/Mi/Gi suffixes, hoist and
// Docker accept the same sizes and read the same number of bytes.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512m", "4GB", "1.5 GiB", "100", "1e3k", "-1m", ".5g", "0x1p3k", "1_0m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBytes(s)
		ref, refErr := units.RAMInBytes(s)
		if err == nil && (got < 0 || int64(got) >= 1<<62) {
			t.Fatalf("ParseBytes(%q) = %d", s, got)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				// Docker lower-cases the unit after checking its length, so
				// "0p\x80" (an invalid byte that lower-cases to 3 bytes) is
				// 0 PiB there; units are ASCII, and hoist refuses.
				if err == nil {
					t.Fatalf("ParseBytes(%q) accepted a non-ASCII size", s)
				}
				return
			}
		}
		low := strings.ToLower(s)
		if n := len(low); n >= 2 && low[n-1] == 'i' && strings.IndexByte("kmgtp", low[n-2]) >= 0 {
			return // hoist's addition
		}
		if err != nil && refErr == nil && ref >= 1<<62 || err != nil && refErr == nil && ref < 0 {
			return // Docker overflows int64 there; hoist refuses
		}
		if (err == nil) != (refErr == nil) || err == nil && int64(got) != ref {
			t.Fatalf("%q: hoist reads %d (%v), Docker %d (%v)", s, got, err, ref, refErr)
		}
	})
}
