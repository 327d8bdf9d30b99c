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

// SelfSigned returns the certificate and key files of the self-signed
// certificate kept in dataDir, making them on first use (or when the
// certificate expires within 30 days or lacks one of hosts). The key file is
// 0600 in a 0700 directory: a self-signed certificate that survives restarts
// needs its key on disk, and clients pin the certificate (hoist --ca).
func SelfSigned(dataDir string, hosts []string, now time.Time) (certPath, keyPath string, err error) {
	certPath, keyPath = filepath.Join(dataDir, CertFile), filepath.Join(dataDir, KeyFile)
	if ok := usable(certPath, keyPath, hosts, now); ok {
		return certPath, keyPath, nil
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return "", "", fmt.Errorf("tls directory: %w", err)
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
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // it is its own CA, so `hoist --ca cert.pem` trusts it
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
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// writeFile writes atomically: a crash never leaves half a key.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
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
