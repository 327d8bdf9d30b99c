package anomaly

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time used so far by the calling OS thread (the
// benchmark locks itself to it): unlike ns/op, it does not grow when other
// processes share the cores.
func threadCPU() (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
