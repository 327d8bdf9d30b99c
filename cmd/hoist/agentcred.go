package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// AgentCredentialFile is the agents' credential under --data.
const AgentCredentialFile = "agent-credential"

// minCredential is the shortest credential accepted from a file.
const minCredential = 16

// agentCredential is the secret the collector presents to every node's
// agent: read from file when given, else from DATA/agent-credential
// (created 0600 on first use), else made for this run only.
func agentCredential(file, data string) (string, error) {
	switch {
	case file != "":
		return readCredential(file)
	case data != "":
		path := filepath.Join(data, AgentCredentialFile)
		c, err := readCredential(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return c, err
		}
		c = newCredential()
		if err := writeSecret(path, c); err != nil {
			return "", fmt.Errorf("agent credential: %w", err)
		}
		return c, nil
	default:
		return newCredential(), nil
	}
}

// agentCredentialFile is a file holding cred for agents this run starts (the
// local provider's, the command provider's scripts): a private temporary
// one, removed by the returned function.
func agentCredentialFile(cred string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "hoist-agent-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, AgentCredentialFile)
	if err := writeSecret(path, cred); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

func newCredential() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}

// readCredential reads a secret file: a regular file others cannot read,
// holding at least minCredential characters.
func readCredential(path string) (string, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: readable by others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	c := strings.TrimSpace(string(b))
	if len(c) < minCredential {
		return "", fmt.Errorf("%s: a credential needs at least %d characters", path, minCredential)
	}
	return c, nil
}

// writeSecret creates path with mode 0600, refusing one that exists or a
// symbolic link.
func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
