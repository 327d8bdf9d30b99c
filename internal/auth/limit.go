package auth

import (
	"sync"
	"time"
)

// Limiter counts failed attempts per client address in a token bucket: Burst
// failures at once, then one per Every. A client that ran out is refused
// before its token is even looked at.
type Limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxTracked bounds the addresses remembered; beyond it, recovered ones are forgotten.
const maxTracked = 10_000

// NewLimiter returns a limiter (defaults: burst 10, one more every 3s, wall clock).
func NewLimiter(burst int, every time.Duration, now func() time.Time) *Limiter {
	if burst <= 0 {
		burst = 10
	}
	if every <= 0 {
		every = 3 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
}

// Wait returns how long addr must wait before its next attempt (0: now).
func (l *Limiter) Wait(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		return 0
	}
	now := l.now()
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// Fail counts one failed attempt by addr.
func (l *Limiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxTracked {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[addr] = b
	}
	l.refill(b, now)
	b.tokens = max(0, b.tokens-1)
}

// sweep forgets addresses whose bucket has refilled; if none has, the
// oldest half goes, so memory stays bounded under a spread-out attack.
func (l *Limiter) sweep(now time.Time) {
	for a, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) < maxTracked {
		return
	}
	n := 0
	for a := range l.buckets {
		delete(l.buckets, a)
		if n++; n >= maxTracked/2 {
			break
		}
	}
}
