package scrape

import (
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

type states struct {
	st  cluster.State
	err error
	n   atomic.Int32
}

func (s *states) State(context.Context) (cluster.State, error) {
	s.n.Add(1)
	return s.st, s.err
}

func nodes(ids ...string) cluster.State {
	var st cluster.State
	for _, id := range ids {
		st.Nodes = append(st.Nodes, cluster.Node{ID: id})
	}
	return st
}

// One round: a target per node, fetched at once, each within the timeout;
// a target that fails or hangs is reported with its error, the others with
// their value, all in one Apply.
func TestOnce(t *testing.T) {
	src := &states{st: nodes("a", "b", "c")}
	var got []Result[string]
	l := &Loop[string]{Name: "test", State: src, Interval: time.Second, Timeout: 50 * time.Millisecond,
		Targets: func(st cluster.State) []Target[string] {
			var out []Target[string]
			for _, n := range st.Nodes {
				out = append(out, Target[string]{Key: n.ID, Fetch: func(ctx context.Context) (string, error) {
					switch n.ID {
					case "b":
						return "partial b", errors.New("refused")
					case "c":
						<-ctx.Done() // hangs: the timeout ends it
						return "", ctx.Err()
					}
					return "stats of " + n.ID, nil
				}})
			}
			return out
		},
		Apply: func(_ cluster.State, rs []Result[string], _ time.Time) { got = append(got, rs...) },
	}
	l.Once(context.Background())
	sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
	if len(got) != 3 || got[0].Value != "stats of a" || got[0].Err != nil ||
		got[1].Value != "partial b" || got[1].Err == nil || !errors.Is(got[2].Err, context.DeadlineExceeded) {
		t.Fatalf("results %+v", got)
	}
	for _, r := range got {
		if r.Time.IsZero() {
			t.Errorf("%s: no time", r.Key)
		}
	}
}

// No state, no round; inactive, not even a cluster call.
func TestOnceWithoutStateOrInactive(t *testing.T) {
	src := &states{err: errors.New("docker down")}
	applied := 0
	l := &Loop[int]{State: src, Interval: time.Second,
		Targets: func(cluster.State) []Target[int] { t.Fatal("targets asked without a state"); return nil },
		Apply:   func(cluster.State, []Result[int], time.Time) { applied++ },
	}
	l.Once(context.Background())
	if applied != 0 || src.n.Load() != 1 {
		t.Errorf("applied %d times, %d state calls", applied, src.n.Load())
	}
	l.Active = func() bool { return false }
	l.Once(context.Background())
	if src.n.Load() != 1 {
		t.Errorf("an inactive loop asked the cluster")
	}
}

// Run scrapes at once and then every interval, and returns nil when its
// context ends.
func TestRun(t *testing.T) {
	src := &states{st: nodes("a")}
	rounds := make(chan struct{}, 16)
	l := &Loop[int]{State: src, Interval: 10 * time.Millisecond,
		Targets: func(cluster.State) []Target[int] { return nil },
		Apply:   func(cluster.State, []Result[int], time.Time) { rounds <- struct{}{} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for i := 0; i < 3; i++ {
		select {
		case <-rounds:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d did not come", i+1)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}
