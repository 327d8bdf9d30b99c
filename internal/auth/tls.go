package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrInsecureListen is returned for a listener beyond loopback without TLS
// or without tokens, unless the operator said it is on purpose.
var ErrInsecureListen = errors.New("listening beyond loopback needs TLS and tokens")

// IsLoopback reports whether a listen address ("host:port") only accepts
// connections from this machine. An empty host means every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckListen enforces the rule: beyond loopback, TLS and tokens, unless
// insecure (the operator's explicit --insecure-allow-remote-plaintext).
func CheckListen(addr string, tls, tokens, insecure bool) error {
	if IsLoopback(addr) || insecure {
		return nil
	}
	var miss []string
	if !tls {
		miss = append(miss, "TLS (--tls-cert/--tls-key, or --data for a self-signed certificate)")
	}
	if !tokens {
		miss = append(miss, "tokens (--tokens FILE)")
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("%s: missing %s; --insecure-allow-remote-plaintext overrides: %w", addr, strings.Join(miss, " and "), ErrInsecureListen)
}

// Self-signed certificate files under the data directory.
const (
	CertFile = "tls/cert.pem"
	KeyFile  = "tls/key.pem"
)

// ErrUnsafePath is returned for a data directory or secret file that
// another user could write, or read where it holds a secret.
var ErrUnsafePath = errors.New("unsafe permissions")

// CheckPrivateDir refuses, as ssh does for its keys, a directory that is not
// ours or that group or others may write to: whoever can write there can
// replace a secret, or a file by a symlink to one.
func CheckPrivateDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory: %w", dir, ErrUnsafePath)
	}
	return checkOwnMode(dir, st, 0o022, "writable by group or others (chmod go-w)")
}

func checkOwnMode(path string, st os.FileInfo, forbidden os.FileMode, what string) error {
	if uid, ok := ownerOf(st); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d): %w", path, uid, os.Geteuid(), ErrUnsafePath)
	}
	if st.Mode().Perm()&forbidden != 0 {
		return fmt.Errorf("%s (mode %s) is %s: %w", path, st.Mode().Perm(), what, ErrUnsafePath)
	}
	return nil
}

// checkSecretFile accepts a missing file, or a regular file of ours that
// nobody else may read or write.
func checkSecretFile(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s): remove it: %w", path, st.Mode().Type(), ErrUnsafePath)
	}
	return checkOwnMode(path, st, 0o077, "open to group or others: the key may have leaked; remove it for a new one")
}

// SelfSigned returns the certificate and key files of the self-signed
// certificate kept in dataDir, making them on first use (or when the
// certificate expires within 30 days or lacks one of hosts). The key file is
// 0600 in a 0700 directory: a self-signed certificate that survives restarts
// needs its key on disk, and clients pin the certificate (hoist --ca).
// dataDir and its tls directory must be ours and not writable by others, and
// a kept key only ours (ErrUnsafePath otherwise).
func SelfSigned(dataDir string, hosts []string, now time.Time) (certPath, keyPath string, err error) {
	certPath, keyPath = filepath.Join(dataDir, CertFile), filepath.Join(dataDir, KeyFile)
	if err := CheckPrivateDir(dataDir); err != nil {
		return "", "", err
	}
	tlsDir := filepath.Dir(certPath)
	if err := os.Mkdir(tlsDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("tls directory: %w", err)
	}
	st, err := os.Lstat(tlsDir)
	if err != nil {
		return "", "", fmt.Errorf("tls directory: %w", err)
	}
	if !st.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory (%s): %w", tlsDir, st.Mode().Type(), ErrUnsafePath)
	}
	if err := checkOwnMode(tlsDir, st, 0o022, "writable by group or others (chmod 700)"); err != nil {
		return "", "", err
	}
	if err := checkSecretFile(keyPath); err != nil {
		return "", "", err
	}
	// An older hoist wrote the key through key.pem.tmp, which umask or a
	// stale file could leave readable: a copy of a key there goes.
	if err := os.Remove(keyPath + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("remove stale %s.tmp: %w", keyPath, err)
	}
	if ok := usable(certPath, keyPath, hosts, now); ok {
		return certPath, keyPath, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", "", fmt.Errorf("tls serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "hoist", Organization: []string{"hoist self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(825 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A leaf: pinned by clients (hoist --ca cert.pem trusts exactly it),
		// and its key, kept on disk, cannot sign other certificates.
		IsCA: false,
	}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("tls certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("tls key: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// usable reports whether the kept certificate may be used again.
func usable(certPath, keyPath string, hosts []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || now.Before(c.NotBefore) || now.Add(30*24*time.Hour).After(c.NotAfter) {
		return false
	}
	if c.IsCA || c.KeyUsage&x509.KeyUsageCertSign != 0 {
		return false // made by an older hoist as a CA: replaced by a leaf
	}
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// writeFile writes atomically (a crash never leaves half a key) through a
// new file of a random name, created exclusively without following links and
// with perm from the start: nothing at any path an attacker could have
// prepared is opened, and the data is never readable beyond perm.
func writeFile(path string, data []byte, perm os.FileMode) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // exactly perm, whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path) // replaces a link at path, never writes through it
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of a PEM certificate file's first certificate,
// for operators to compare with what a client sees.
func Fingerprint(certPath string) (string, error) {
	data, err := os.ReadFile(certPath)
	if err != nil {
		return "", fmt.Errorf("certificate: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return "", fmt.Errorf("certificate %s: no PEM block", certPath)
	}
	sum := sha256.Sum256(b.Bytes)
	return strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

// ServerTLS loads a certificate pair into a server configuration.
func ServerTLS(certPath, keyPath string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}

// ClientTLS trusts caFile (a PEM bundle, e.g. hoist's self-signed cert.pem),
// or skips verification when insecure.
func ClientTLS(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	if caFile == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ca %s: no certificate found", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}
