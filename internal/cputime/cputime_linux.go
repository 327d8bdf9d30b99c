// Package cputime measures the CPU time of the calling OS thread, so that a
// cost per operation does not grow when other processes share the cores
// (wall-clock ns/op does).
package cputime

import (
	"time"

	"golang.org/x/sys/unix"
)

// Thread is the CPU time used so far by the calling OS thread (the caller
// locks its goroutine to the thread); ok is false when it is not available.
func Thread() (d time.Duration, ok bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
