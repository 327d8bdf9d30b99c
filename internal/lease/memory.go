package lease

import (
	"context"
	"fmt"
	"sync"
)

var _ Store = (*Memory)(nil)

// Memory is a Store in memory: one process's tests and the simulator.
type Memory struct {
	mu      sync.Mutex
	rec     Record
	version uint64
}

// Get implements Store.
func (m *Memory) Get(context.Context) (Record, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rec, m.version, nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, r Record, version uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version != m.version {
		return 0, fmt.Errorf("at version %d, not %d: %w", m.version, version, ErrConflict)
	}
	m.rec = r
	m.version++
	return m.version, nil
}
