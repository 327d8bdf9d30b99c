package keylock

import (
	"sync"
	"testing"
)

func TestOneAtATimePerKey(t *testing.T) {
	var m Map
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := 0; i < 50; i++ {
		for _, k := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer m.Lock(k)()
				mu.Lock()
				inside[k]++
				n := inside[k]
				mu.Unlock()
				if n != 1 {
					t.Errorf("%d callers inside %s at once", n, k)
				}
				mu.Lock()
				inside[k]--
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
}

func TestOtherKeysDoNotWait(t *testing.T) {
	var m Map
	unlockA := m.Lock("a")
	defer unlockA()
	m.Lock("b")() // would deadlock if keys shared a mutex
}
