//go:build !linux

package anomaly

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
