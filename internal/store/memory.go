// Package store keeps what hoist must not forget across restarts: machine
// records, events and apps registered at run time. Memory is for the simulator
// and tests; Bolt (bbolt on disk) for a real cluster.
package store

import (
	"context"
	"sort"
	"sync"

	"github.com/hoist/hoist/internal/cluster"
)

// Memory keeps machine records in memory.
type Memory struct {
	mu       sync.Mutex
	machines map[string]cluster.MachineRecord
	requests map[string]cluster.PoolRequest
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{machines: map[string]cluster.MachineRecord{}, requests: map[string]cluster.PoolRequest{}}
}

// Machines returns every record, sorted by name.
func (m *Memory) Machines(context.Context) ([]cluster.MachineRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cluster.MachineRecord, 0, len(m.machines))
	for _, r := range m.machines {
		out = append(out, r.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PutMachine stores r (a copy).
func (m *Memory) PutMachine(_ context.Context, r cluster.MachineRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.machines[r.Name] = r.Clone()
	return nil
}

// PoolRequests returns the pool requests not yet carried out, by pool.
func (m *Memory) PoolRequests(context.Context) ([]cluster.PoolRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cluster.PoolRequest, 0, len(m.requests))
	for _, r := range m.requests {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pool < out[j].Pool })
	return out, nil
}

// PutPoolRequest replaces r's pool's request.
func (m *Memory) PutPoolRequest(_ context.Context, r cluster.PoolRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[r.Pool] = r
	return nil
}

// DeletePoolRequest forgets pool's request if it is still number seq.
func (m *Memory) DeletePoolRequest(_ context.Context, pool string, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.requests[pool]; ok && r.Seq == seq {
		delete(m.requests, pool)
	}
	return nil
}
