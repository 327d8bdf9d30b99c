// Package cloudinit writes the user data a cloud machine boots with (it
// labels the machine's dockerd with its pool and name and joins the swarm) and
// keeps the swarm join token out of error messages.
//
// The join token is a secret: it is put only in the user data. Clouds may echo
// a bad request's fields back in their errors (Nova's validation errors quote
// the value), so every error a cloud provider returns goes through Redact.
package cloudinit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Labels are the engine labels the machine's dockerd gets, as the local
// provider sets them (swarm reads hoist.pool and hoist.machine from them
// before the node labels are written).
func Labels(pool, machine string) map[string]string {
	return map[string]string{"hoist.pool": pool, "hoist.machine": machine}
}

// ErrBadInput is returned for a name, pool or join address that cannot be
// put in a shell script safely.
var ErrBadInput = errors.New("bad user data input")

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)
	addrRE  = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]{1,260}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,200}$`)
)

// UserData is the boot script of machine in pool: it writes the engine labels
// to /etc/docker/daemon.json (replacing the image's), restarts Docker, waits
// for it, and joins the swarm at addr with token. cloud-init runs it once, as
// root, on first boot.
func UserData(addr, token, pool, machine string) ([]byte, error) {
	switch {
	case !nameRE.MatchString(pool):
		return nil, fmt.Errorf("%w: pool %q", ErrBadInput, pool)
	case !nameRE.MatchString(machine):
		return nil, fmt.Errorf("%w: machine %q", ErrBadInput, machine)
	case !addrRE.MatchString(addr):
		return nil, fmt.Errorf("%w: manager address %q", ErrBadInput, addr)
	case !tokenRE.MatchString(token):
		return nil, fmt.Errorf("%w: the join token has unexpected characters", ErrBadInput)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# hoist: machine %s of pool %s; joins the swarm at %s.\nset -eu\n", machine, pool, addr)
	b.WriteString("mkdir -p /etc/docker\n")
	fmt.Fprintf(&b, "cat > /etc/docker/daemon.json <<'HOIST'\n{\"labels\": [\"hoist.pool=%s\", \"hoist.machine=%s\"]}\nHOIST\n", pool, machine)
	b.WriteString("systemctl restart docker 2>/dev/null || service docker restart\n")
	b.WriteString("i=0; until docker info >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 120 ] || exit 1; sleep 1; done\n")
	fmt.Fprintf(&b, "docker swarm join --token '%s' '%s'\n", token, addr)
	return []byte(b.String()), nil
}

// b64run is a run of base64 long enough to hide a token.
var b64run = regexp.MustCompile(`[A-Za-z0-9+/_-]{24,}={0,2}`)

// Redact removes every secret from s, and every base64 run that decodes to
// text holding one (an echoed user data).
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return b64run.ReplaceAllStringFunc(s, func(run string) string {
		for _, dec := range decodings(run) {
			for _, sec := range secrets {
				if len(sec) >= 4 && strings.Contains(dec, sec) {
					return "[redacted]"
				}
			}
		}
		return run
	})
}

// decodings decodes a base64 run from each of its first four offsets (a
// quoted fragment may start anywhere), standard and URL alphabets, padding
// or not.
func decodings(run string) []string {
	var out []string
	for off := 0; off < 4 && off < len(run); off++ {
		r := strings.TrimRight(run[off:], "=")
		if len(r)%4 == 1 { // a cut fragment: its last character is half a byte
			r = r[:len(r)-1]
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(r); err == nil {
				out = append(out, string(b))
			}
		}
	}
	return out
}

// Error is an error whose message has its secrets removed. Unwrap gives the
// cause for errors.Is; its own message may hold them and must not be printed.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// Wrap returns err with "what: " before its redacted message.
func Wrap(err error, what string, secrets ...string) error {
	if err == nil {
		return nil
	}
	return &Error{msg: Redact(what+": "+err.Error(), secrets...), err: err}
}
