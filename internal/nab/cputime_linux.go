package nab

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time used so far by the calling OS thread (the
// caller locks its goroutine to the thread), so that a detector's cost per
// point does not grow with the machine's load; ok is false when it is not
// available.
func threadCPU() (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
