package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/auth"
)

// serverTLS picks the certificate: the given files, else a self-signed one
// kept in --data when asked for or when listening beyond loopback.
func serverTLS(opt runtimeOptions) (cfg *tls.Config, scheme, note string, err error) {
	cert, key := opt.TLSCert, opt.TLSKey
	switch {
	case (cert == "") != (key == ""):
		return nil, "", "", errors.New("give both --tls-cert and --tls-key")
	case cert != "":
	case opt.SelfSigned || !auth.IsLoopback(opt.Listen):
		if opt.Data == "" {
			if opt.InsecureListen {
				return nil, "http", "", nil
			}
			return nil, "", "", fmt.Errorf("a self-signed certificate is kept in --data: give --data DIR, or --tls-cert and --tls-key: %w", auth.ErrInsecureListen)
		}
		host, _, _ := net.SplitHostPort(opt.Listen)
		var hosts []string
		if h, _ := os.Hostname(); h != "" {
			hosts = append(hosts, h)
		}
		if host != "" && host != "0.0.0.0" && host != "::" {
			hosts = append(hosts, host)
		}
		cert, key, err = auth.SelfSigned(opt.Data, hosts, time.Now())
		if err != nil {
			return nil, "", "", err
		}
		fp, err := auth.Fingerprint(cert)
		if err != nil {
			return nil, "", "", err
		}
		note = fmt.Sprintf("; self-signed certificate %s, SHA-256 %s: clients use --ca %s", cert, shortFP(fp), cert)
	default:
		return nil, "http", "", nil
	}
	c, err := auth.ServerTLS(cert, key)
	if err != nil {
		return nil, "", "", err
	}
	return c, "https", note, nil
}

func shortFP(fp string) string {
	var parts []string
	for i := 0; i+2 <= len(fp); i += 2 {
		parts = append(parts, fp[i:i+2])
	}
	return strings.Join(parts, ":")
}
