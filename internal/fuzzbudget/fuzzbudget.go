// Package fuzzbudget bounds what one fuzz input may cost: a parser that
// survives every input but takes a second or a gigabyte on some of them is
// as much a defect as one that panics (issue 19: 60 KB of JSON once cost
// 1 GB). Fuzz targets wrap the call under test in Check.
package fuzzbudget

import (
	"runtime"
	"testing"
	"time"
)

// Budget is the most one input may cost.
type Budget struct {
	// Alloc bounds the bytes allocated while f runs (all goroutines: run
	// nothing else meanwhile), as Fixed + PerByte x the input's length.
	Fixed, PerByte uint64
	// Time bounds f's wall time; generous, as it is measured on a machine
	// that may be busy (0: one second).
	Time time.Duration
}

// Check runs f once and fails t when it allocated or took more than b
// allows for an input of n bytes.
func Check(t testing.TB, b Budget, n int, f func()) {
	t.Helper()
	limit := b.Fixed + b.PerByte*uint64(n)
	if b.Time <= 0 {
		b.Time = time.Second
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Fatalf("an input of %d bytes allocated %d bytes (budget %d)", n, alloc, limit)
	}
	if took > b.Time {
		t.Fatalf("an input of %d bytes took %s (budget %s)", n, took, b.Time)
	}
}
