package cputime

import (
	"runtime"
	"testing"
)

// Thread grows with the thread's own work.
func TestThreadCountsOwnWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d0, ok := Thread()
	if !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no thread CPU time on Linux")
		}
		return
	}
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i % 7
	}
	d1, _ := Thread()
	if d1 <= d0 {
		t.Fatalf("thread CPU did not grow over a busy loop (%d): %v -> %v", x, d0, d1)
	}
}
