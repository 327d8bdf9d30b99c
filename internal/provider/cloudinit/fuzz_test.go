package cloudinit

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/fuzzbudget"
)

// Whatever a cloud echoes around the user data, the token does not survive
// Redact, raw or base64-encoded; and Redact is bounded in time and memory
// for a message of any size.
func FuzzRedact(f *testing.F) {
	ud, _ := UserData("10.0.0.1:2377", token, "workers", "workers-a1")
	b64 := base64.StdEncoding.EncodeToString(ud)
	f.Add("Invalid input for field/attribute user_data. Value: ", b64, " is not a 'base64'")
	f.Add("", token, "")
	f.Add("x=", b64[40:], "")
	f.Add("", "", "plain message")
	f.Fuzz(func(t *testing.T, before, echoed, after string) {
		msg := before + echoed + after
		var got string
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 1 << 20, PerByte: 256, Time: 2 * time.Second}, len(msg), func() {
			got = Redact(msg, token)
		})
		if strings.Contains(got, token) {
			t.Fatalf("the token survived: %q", got)
		}
		if strings.Contains(echoed, b64) && strings.Contains(got, b64) {
			t.Fatalf("the user data survived: %q", got)
		}
		if !strings.Contains(msg, token) && !strings.Contains(msg, "[redacted]") && !b64run.MatchString(msg) && got != msg {
			t.Fatalf("a message without secrets or base64 changed: %q -> %q", msg, got)
		}
	})
}
