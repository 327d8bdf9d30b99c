package balancer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// fakeDNS answers A queries on loopback UDP with the addresses it is given,
// as Docker's embedded DNS answers tasks.APP with the running tasks: no
// address is NXDOMAIN. It stands in for 127.0.0.11 when the real haproxy runs
// on the host.
type fakeDNS struct {
	conn *net.UDPConn
	mu   sync.Mutex
	a    []netip.Addr
}

func newFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: c}
	done := make(chan struct{})
	go func() { defer close(done); d.serve() }()
	t.Cleanup(func() { c.Close(); <-done })
	return d
}

func (d *fakeDNS) addr() string { return d.conn.LocalAddr().String() }

func (d *fakeDNS) set(addrs ...netip.Addr) {
	d.mu.Lock()
	d.a = addrs
	d.mu.Unlock()
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 4096)
	for {
		n, from, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		d.mu.Lock()
		a := append([]netip.Addr(nil), d.a...)
		d.mu.Unlock()
		if out := dnsAnswer(buf[:n], a); out != nil {
			d.conn.WriteToUDP(out, from)
		}
	}
}

// dnsAnswer answers the one question of query: A records for a (NXDOMAIN
// when there are none), an empty NOERROR for other types. nil: not a query.
func dnsAnswer(query []byte, a []netip.Addr) []byte {
	if len(query) < 12 || binary.BigEndian.Uint16(query[4:]) != 1 {
		return nil
	}
	end := 12
	for end < len(query) && query[end] != 0 {
		end += int(query[end]) + 1
	}
	end += 5 // the root label, type, class
	if end > len(query) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(query[end-4:])
	out := append([]byte(nil), query[:end]...)
	flags := uint16(0x8180) // response, recursion desired and available
	var answers []netip.Addr
	switch {
	case qtype == 1 && len(a) > 0:
		answers = a
	case qtype == 1:
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	binary.BigEndian.PutUint16(out[6:], uint16(len(answers)))
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], 0) // the query's EDNS record is not echoed
	for _, ip := range answers {
		v4 := ip.As4()
		out = append(out, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4) // name at 12, A, IN, TTL 1s
		out = append(out, v4[:]...)
	}
	return out
}
