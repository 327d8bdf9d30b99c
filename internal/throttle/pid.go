package throttle

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netns"
)

// PIDShaper limits every interface of the network namespace of a process
// (a container's, found from its PID), each with the whole limit.
type PIDShaper struct{}

func openPID(pid int) (netns.NsHandle, []string, error) {
	if pid <= 0 {
		return 0, nil, fmt.Errorf("throttle: no process (pid %d)", pid)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return 0, nil, fmt.Errorf("throttle: network namespace of pid %d: %w", pid, err)
	}
	links, err := Links(ns)
	if err != nil {
		ns.Close()
		return 0, nil, err
	}
	return ns, links, nil
}

// Apply limits every interface of pid's namespace (idempotent).
func (PIDShaper) Apply(_ context.Context, pid int, l Limit) error {
	ns, links, err := openPID(pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	var errs []error
	for _, name := range links {
		errs = append(errs, Apply(ns, name, l))
	}
	return errors.Join(errs...)
}

// Remove lifts the limit from every interface of pid's namespace.
func (PIDShaper) Remove(_ context.Context, pid int) error {
	ns, links, err := openPID(pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	var errs []error
	for _, name := range links {
		errs = append(errs, Remove(ns, name))
	}
	return errors.Join(errs...)
}

// Read sums the limit's counters over pid's interfaces; Applied only when
// every interface has it (at the rate of the first).
func (PIDShaper) Read(_ context.Context, pid int) (State, error) {
	ns, links, err := openPID(pid)
	if err != nil {
		return State{}, err
	}
	defer ns.Close()
	var total State
	for i, name := range links {
		st, err := Read(ns, name)
		if err != nil {
			return State{}, err
		}
		if i == 0 {
			total.Applied, total.Rate = st.Applied, st.Rate
		}
		total.Found = total.Found || st.Found
		total.Applied = total.Applied && st.Applied && st.Rate == total.Rate
		total.Egress = total.Egress.Add(st.Egress)
		total.Ingress = total.Ingress.Add(st.Ingress)
	}
	return total, nil
}
