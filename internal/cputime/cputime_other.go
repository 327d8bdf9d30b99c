//go:build !linux

// Package cputime measures the CPU time of the calling OS thread.
package cputime

import "time"

// Thread is not available here: callers fall back to wall time.
func Thread() (d time.Duration, ok bool) { return 0, false }
