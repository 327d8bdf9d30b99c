// Package keylock serialises work per key (a machine name): calls for one
// key run one at a time, calls for different keys run in parallel.
package keylock

import "sync"

// Map is a mutex per key. The zero value is ready to use; a Map must not be
// copied after first use. Keys are never forgotten: a provider's machine
// names are few and the entries small.
type Map struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Lock takes key's mutex and returns its unlock.
func (m *Map) Lock(key string) (unlock func()) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*sync.Mutex{}
	}
	l, ok := m.locks[key]
	if !ok {
		l = &sync.Mutex{}
		m.locks[key] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}
