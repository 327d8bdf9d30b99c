// Package throttle limits a network interface's rate in both directions with
// the kernel's own traffic control, through netlink: egress by a TBF as the
// interface's root qdisc; ingress by redirecting every packet arriving on the
// interface (an ingress qdisc, a match-all u32 filter and a mirred redirect)
// to an IFB device whose root qdisc is another TBF. It is Elascale's flow
// limiter without OVS. Every call works inside a given network namespace
// (a container's), so hoist's agent never enters it itself.
package throttle

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Limit is a rate limit applied to each direction of an interface.
type Limit struct {
	Rate  uint64 `json:"rate"`            // bits per second, > 0
	Burst uint64 `json:"burst,omitempty"` // bytes of the token bucket; 0 picks DefaultBurst
}

// Counters are a qdisc's own statistics.
type Counters struct {
	Bytes      uint64 `json:"bytes"`
	Packets    uint64 `json:"packets"`
	Drops      uint64 `json:"drops"`
	Overlimits uint64 `json:"overlimits"`
}

// Add sums counters (several interfaces of one task).
func (c Counters) Add(o Counters) Counters {
	return Counters{c.Bytes + o.Bytes, c.Packets + o.Packets, c.Drops + o.Drops, c.Overlimits + o.Overlimits}
}

// State is what is applied on one interface.
type State struct {
	Applied bool     `json:"applied"`
	Found   bool     `json:"found,omitempty"` // some of hoist's limit is there (Applied: all of it)
	Rate    uint64   `json:"rate"`            // bits per second of the egress TBF
	Egress  Counters `json:"egress"`          // the interface's root TBF: what the namespace sends
	Ingress Counters `json:"ingress"`         // the IFB's TBF: what the namespace receives
}

const (
	// rootHandle marks hoist's TBFs (1:0), so Read knows they are its own.
	rootHandle = 0x10000
	// filterPrio is the u32 filter's priority under the ingress qdisc.
	filterPrio = 0xc0d
	// latency bounds each TBF's queue: the bytes that wait at most this long.
	latencyMicros = 50_000
	minBurst      = 16 * 1514 // a few full-size frames, also GSO's segments
)

// ErrNoLink is returned when the interface is not in the namespace.
var ErrNoLink = errors.New("throttle: no such interface")

// DefaultBurst is the token bucket used when Limit.Burst is 0: 20 ms of the
// rate, at least a few full frames (a smaller bucket than a timer tick's
// worth of bytes cannot reach the rate).
func DefaultBurst(rate uint64) uint64 {
	return max(rate/8/50, minBurst)
}

// IFBName is the IFB device paired with the interface of the given index.
func IFBName(ifindex int) string { return "hoist-ifb" + strconv.Itoa(ifindex) }

// Apply limits the interface named ifname inside ns to l in both directions.
// It is idempotent: applying the same limit again changes nothing, another
// limit replaces the first in place (one qdisc either way).
func Apply(ns netns.NsHandle, ifname string, l Limit) error {
	if l.Rate == 0 {
		return errors.New("throttle: rate must be > 0")
	}
	h, link, err := open(ns, ifname)
	if err != nil {
		return err
	}
	defer h.Close()
	idx := link.Attrs().Index
	if err := h.QdiscReplace(tbf(idx, l)); err != nil {
		return fmt.Errorf("throttle: egress tbf on %s: %w", ifname, err)
	}
	ifb, err := ensureIFB(h, IFBName(idx))
	if err != nil {
		return err
	}
	if err := h.QdiscReplace(tbf(ifb.Attrs().Index, l)); err != nil {
		return fmt.Errorf("throttle: ingress tbf on %s: %w", ifb.Attrs().Name, err)
	}
	parent, err := ensureIngressHook(h, link)
	if err != nil {
		return err
	}
	if err := ensureRedirect(h, link, parent, ifb.Attrs().Index); err != nil {
		return err
	}
	return nil
}

// Remove lifts the limit from the interface; removing what is not there is
// not an error.
func Remove(ns netns.NsHandle, ifname string) error {
	h, link, err := open(ns, ifname)
	if err != nil {
		return err
	}
	defer h.Close()
	idx := link.Attrs().Index
	var errs []error
	if q := findQdisc(h, link, netlink.HANDLE_ROOT); q != nil && q.Attrs().Handle == rootHandle && q.Type() == "tbf" {
		if err := h.QdiscDel(q); err != nil {
			errs = append(errs, fmt.Errorf("throttle: delete egress tbf on %s: %w", ifname, err))
		}
	}
	parent := uint32(netlink.HANDLE_MIN_INGRESS)
	if q := findQdisc(h, link, netlink.HANDLE_INGRESS); q != nil && q.Type() == "ingress" {
		parent = q.Attrs().Handle
	}
	filters, _ := h.FilterList(link, parent)
	for _, f := range filters {
		if f.Attrs().Priority == filterPrio {
			if err := h.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("throttle: delete redirect on %s: %w", ifname, err))
			}
		}
	}
	// The ingress qdisc is only ours when hoist added it; it holds nothing
	// once the filter is gone, and an empty ingress qdisc costs nothing, but
	// leave the interface as found when no other filter uses it.
	if q := findQdisc(h, link, netlink.HANDLE_INGRESS); q != nil && q.Type() == "ingress" {
		if rest, _ := h.FilterList(link, q.Attrs().Handle); len(rest) == 0 {
			if err := h.QdiscDel(q); err != nil {
				errs = append(errs, fmt.Errorf("throttle: delete ingress qdisc on %s: %w", ifname, err))
			}
		}
	}
	if ifb, err := h.LinkByName(IFBName(idx)); err == nil {
		if err := h.LinkDel(ifb); err != nil {
			errs = append(errs, fmt.Errorf("throttle: delete %s: %w", IFBName(idx), err))
		}
	}
	return errors.Join(errs...)
}

// Read says whether a limit is applied on the interface and gives its
// counters.
func Read(ns netns.NsHandle, ifname string) (State, error) {
	h, link, err := open(ns, ifname)
	if err != nil {
		return State{}, err
	}
	defer h.Close()
	var st State
	_, ifbErr := h.LinkByName(IFBName(link.Attrs().Index))
	st.Found = ifbErr == nil
	q := findQdisc(h, link, netlink.HANDLE_ROOT)
	t, ok := q.(*netlink.Tbf)
	if !ok || t.Handle != rootHandle {
		return st, nil
	}
	st.Applied, st.Found = true, true
	st.Rate = t.Rate * 8
	st.Egress = counters(t)
	if ifb, err := h.LinkByName(IFBName(link.Attrs().Index)); err == nil {
		if q := findQdisc(h, ifb, netlink.HANDLE_ROOT); q != nil && q.Type() == "tbf" {
			st.Ingress = counters(q)
		}
		// Applied only when the redirect is in place too.
		if !hasRedirect(h, link, ifb.Attrs().Index) {
			st.Applied = false
		}
	} else {
		st.Applied = false
	}
	return st, nil
}

// Links lists the namespace's interfaces that carry traffic (not loopback,
// not hoist's own IFBs), the ones a task's limit goes on.
func Links(ns netns.NsHandle) ([]string, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("throttle: netlink in namespace: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("throttle: list links: %w", err)
	}
	var names []string
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || l.Type() == "ifb" {
			continue
		}
		names = append(names, a.Name)
	}
	return names, nil
}

func open(ns netns.NsHandle, ifname string) (*netlink.Handle, netlink.Link, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("throttle: netlink in namespace: %w", err)
	}
	link, err := h.LinkByName(ifname)
	if err != nil {
		h.Close()
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNoLink, ifname)
		}
		return nil, nil, fmt.Errorf("throttle: %s: %w", ifname, err)
	}
	return h, link, nil
}

func tbf(ifindex int, l Limit) *netlink.Tbf {
	rate := l.Rate / 8 // bytes per second
	burst := l.Burst
	if burst == 0 {
		burst = DefaultBurst(l.Rate)
	}
	burst = min(burst, 1<<30)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: rootHandle, Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		// The queue holds the bucket plus latencyMicros of the rate.
		Limit:  uint32(min(burst+rate*latencyMicros/1_000_000, 1<<31)),
		Buffer: netlink.Xmittime(rate, uint32(burst)),
	}
}

func counters(q netlink.Qdisc) Counters {
	s := q.Attrs().Statistics
	if s == nil {
		return Counters{}
	}
	var c Counters
	if s.Basic != nil {
		c.Bytes, c.Packets = s.Basic.Bytes, uint64(s.Basic.Packets)
	}
	if s.Queue != nil {
		c.Drops, c.Overlimits = uint64(s.Queue.Drops), uint64(s.Queue.Overlimits)
	}
	return c
}

func findQdisc(h *netlink.Handle, link netlink.Link, parent uint32) netlink.Qdisc {
	qs, err := h.QdiscList(link)
	if err != nil {
		return nil
	}
	for _, q := range qs {
		if q.Attrs().Parent == parent {
			return q
		}
	}
	return nil
}

func ensureIFB(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		if err := h.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: 1000}}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("throttle: add ifb %s: %w", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("throttle: ifb %s: %w", name, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("throttle: set %s up: %w", name, err)
		}
	}
	return l, nil
}

// ensureIngressHook gives the parent for ingress filters: a clsact's ingress
// hook when the interface already has one, else an ingress qdisc (added).
func ensureIngressHook(h *netlink.Handle, link netlink.Link) (uint32, error) {
	if q := findQdisc(h, link, netlink.HANDLE_INGRESS); q != nil {
		if q.Type() == "clsact" {
			return netlink.HANDLE_MIN_INGRESS, nil
		}
		return q.Attrs().Handle, nil
	}
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: link.Attrs().Index,
		Handle:    netlink.MakeHandle(0xffff, 0),
		Parent:    netlink.HANDLE_INGRESS,
	}}
	if err := h.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return 0, fmt.Errorf("throttle: ingress qdisc on %s: %w", link.Attrs().Name, err)
	}
	return q.Handle, nil
}

func hasRedirect(h *netlink.Handle, link netlink.Link, ifbIndex int) bool {
	for _, parent := range []uint32{netlink.MakeHandle(0xffff, 0), netlink.HANDLE_MIN_INGRESS} {
		fs, err := h.FilterList(link, parent)
		if err != nil {
			continue
		}
		for _, f := range fs {
			if redirectsTo(f, ifbIndex) {
				return true
			}
		}
	}
	return false
}

func redirectsTo(f netlink.Filter, ifbIndex int) bool {
	u, ok := f.(*netlink.U32)
	if !ok || u.Priority != filterPrio {
		return false
	}
	for _, a := range u.Actions {
		if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == ifbIndex && m.MirredAction == netlink.TCA_EGRESS_REDIR {
			return true
		}
	}
	return false
}

// ensureRedirect puts one match-all u32 filter under parent that redirects
// every packet to the IFB; other filters of hoist's priority are replaced.
func ensureRedirect(h *netlink.Handle, link netlink.Link, parent uint32, ifbIndex int) error {
	fs, err := h.FilterList(link, parent)
	if err != nil {
		return fmt.Errorf("throttle: list filters on %s: %w", link.Attrs().Name, err)
	}
	found := false
	for _, f := range fs {
		if f.Attrs().Priority != filterPrio {
			continue
		}
		if !found && redirectsTo(f, ifbIndex) {
			found = true
			continue
		}
		if err := h.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("throttle: replace filter on %s: %w", link.Attrs().Name, err)
		}
	}
	if found {
		return nil
	}
	mirred := netlink.NewMirredAction(ifbIndex)
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: link.Attrs().Index,
			Parent:    parent,
			Priority:  filterPrio,
			Protocol:  unix.ETH_P_ALL,
		},
		// One key that masks nothing: every packet matches.
		Sel: &netlink.TcU32Sel{
			Flags: netlink.TC_U32_TERMINAL,
			Nkeys: 1,
			Keys:  []netlink.TcU32Key{{Mask: 0, Val: 0, Off: 0}},
		},
		Actions: []netlink.Action{mirred},
	}
	if err := h.FilterAdd(f); err != nil {
		return fmt.Errorf("throttle: redirect %s to ifb: %w", link.Attrs().Name, err)
	}
	return nil
}
