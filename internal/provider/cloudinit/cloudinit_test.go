package cloudinit

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const token = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"

func TestUserData(t *testing.T) {
	ud, err := UserData("10.0.0.1:2377", token, "workers", "workers-a1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#!/bin/sh\n", `"hoist.pool=workers"`, `"hoist.machine=workers-a1"`,
		"docker swarm join --token '" + token + "' '10.0.0.1:2377'\n"} {
		if !strings.Contains(string(ud), want) {
			t.Errorf("user data lacks %q:\n%s", want, ud)
		}
	}
	for _, bad := range [][4]string{
		{"10.0.0.1:2377", token, "Workers", "w-1"},
		{"10.0.0.1:2377", token, "w", "w'; rm -rf /"},
		{"10.0.0.1:2377 && x", token, "w", "w-1"},
		{"10.0.0.1:2377", "tok'en", "w", "w-1"},
	} {
		if _, err := UserData(bad[0], bad[1], bad[2], bad[3]); !errors.Is(err, ErrBadInput) {
			t.Errorf("UserData%q = %v, want ErrBadInput", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	ud, _ := UserData("10.0.0.1:2377", token, "workers", "workers-a1")
	b64 := base64.StdEncoding.EncodeToString(ud)
	for name, msg := range map[string]string{
		"raw":             "join failed: " + token,
		"base64":          "Invalid input for field/attribute user_data. Value: " + b64 + ". bad",
		"base64 fragment": "Value: '" + b64[13:len(b64)-9] + "...'",
		"url base64":      "v=" + base64.RawURLEncoding.EncodeToString(ud),
	} {
		got := Redact(msg, token)
		if !strings.Contains(got, "[redacted]") || strings.Contains(got, token) || strings.Contains(got, "1awxwuwd3z9j1z3puu7rcgdbx") {
			t.Errorf("%s: Redact = %q", name, got)
		}
	}
	if got := Redact("server abc-123 is ERROR: No valid host was found", token); got != "server abc-123 is ERROR: No valid host was found" {
		t.Errorf("a message without secrets changed: %q", got)
	}
	err := Wrap(errors.New("400: "+b64), "create w-1", token)
	if strings.Contains(err.Error(), token) || !strings.HasPrefix(err.Error(), "create w-1: 400: [redacted]") {
		t.Errorf("Wrap = %q", err)
	}
}
