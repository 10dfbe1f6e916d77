package mm_test

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
)

// hangGuard bounds every wait in these tests. It is never a timing
// assertion: a test that reaches it has hung.
const hangGuard = 10 * time.Second

// gateSleeper tells the test it went to sleep (the waiter is queued by
// then), and then waits for the event, or for intr, which interrupts it
// as a signal would.
type gateSleeper struct {
	asleep chan struct{}
	intr   chan struct{}
}

func newGate() *gateSleeper {
	return &gateSleeper{asleep: make(chan struct{}, 16), intr: make(chan struct{})}
}

func (g *gateSleeper) Sleep(ev *sched.Event, _ sched.Mode) bool {
	g.asleep <- struct{}{}
	select {
	case <-ev.Done():
		return true
	case <-g.intr:
		return false
	}
}

// racingSleeper is woken by the grant but reports an interruption, as a
// sleeper does when a signal arrives at the same moment as the hand-off.
type racingSleeper struct{ asleep chan struct{} }

func (r racingSleeper) Sleep(ev *sched.Event, _ sched.Mode) bool {
	r.asleep <- struct{}{}
	<-ev.Done()
	return false
}

// interrupted is a sleeper with a signal already pending.
type interrupted struct{}

func (interrupted) Sleep(*sched.Event, sched.Mode) bool { return false }

func waitAsleep(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hangGuard):
		t.Fatal("the waiter never went to sleep")
	}
}

// acquire starts a Lock or RLock in a goroutine and returns its result.
func acquire(s *mm.RWSem, write bool, sl sched.Sleeper) <-chan bool {
	res := make(chan bool, 1)
	go func() {
		if write {
			res <- s.Lock(sl, sched.Killable)
		} else {
			res <- s.RLock(sl, sched.Killable)
		}
	}()
	return res
}

// queue starts a Lock or RLock that must block, and returns once it is queued.
func queue(t *testing.T, s *mm.RWSem, write bool) (<-chan bool, *gateSleeper) {
	t.Helper()
	g := newGate()
	res := acquire(s, write, g)
	waitAsleep(t, g.asleep)
	return res, g
}

func result(t *testing.T, res <-chan bool) bool {
	t.Helper()
	select {
	case ok := <-res:
		return ok
	case <-time.After(hangGuard):
		t.Fatal("the lock call never returned")
		return false
	}
}

// pending fails if the lock call already returned.
func pending(t *testing.T, res <-chan bool, what string) {
	t.Helper()
	select {
	case ok := <-res:
		t.Fatalf("%s returned %v while it should still wait", what, ok)
	default:
	}
}

func wantState(t *testing.T, s *mm.RWSem, readers int, writer bool, waiting int) {
	t.Helper()
	r, w, q := s.State()
	if r != readers || w != writer || q != waiting {
		t.Fatalf("State() = %d readers, writer %v, %d waiting; want %d, %v, %d", r, w, q, readers, writer, waiting)
	}
}

func TestRWSemTryLock(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, s *mm.RWSem) (cleanup func())
		tryR, tryW bool
	}{
		{"free", func(*testing.T, *mm.RWSem) func() { return func() {} }, true, true},
		{"read-held", func(t *testing.T, s *mm.RWSem) func() {
			s.TryRLock()
			return s.RUnlock
		}, true, false},
		{"write-held", func(t *testing.T, s *mm.RWSem) func() {
			s.TryLock()
			return s.Unlock
		}, false, false},
		{"read-held with a writer queued", func(t *testing.T, s *mm.RWSem) func() {
			s.TryRLock()
			w, _ := queue(t, s, true)
			return func() {
				s.RUnlock()
				if !result(t, w) {
					t.Error("queued writer failed")
				}
				s.Unlock()
			}
		}, false, false},
		{"downgraded", func(t *testing.T, s *mm.RWSem) func() {
			s.TryLock()
			s.Downgrade()
			return s.RUnlock
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s mm.RWSem
			cleanup := tc.setup(t, &s)
			r0, w0, q0 := s.State()
			if got := s.TryRLock(); got != tc.tryR {
				t.Errorf("TryRLock() = %v, want %v", got, tc.tryR)
			} else if got {
				s.RUnlock()
			}
			if got := s.TryLock(); got != tc.tryW {
				t.Errorf("TryLock() = %v, want %v", got, tc.tryW)
			} else if got {
				s.Unlock()
			}
			wantState(t, &s, r0, w0, q0)
			cleanup()
			wantState(t, &s, 0, false, 0)
		})
	}
}

// TestRWSemFIFO: a queued writer keeps new readers out, and gets the lock
// before them.
func TestRWSemFIFO(t *testing.T) {
	var s mm.RWSem
	if !s.TryRLock() {
		t.Fatal("TryRLock on a free lock failed")
	}
	w, _ := queue(t, &s, true)
	if s.TryRLock() {
		t.Fatal("a new reader overtook the queued writer")
	}
	r, _ := queue(t, &s, false)
	wantState(t, &s, 1, false, 2)

	s.RUnlock()
	if !result(t, w) {
		t.Fatal("the writer was not granted the lock")
	}
	wantState(t, &s, 0, true, 1)
	pending(t, r, "the reader queued behind the writer")

	s.Unlock()
	if !result(t, r) {
		t.Fatal("the reader was not granted the lock")
	}
	wantState(t, &s, 1, false, 0)
	s.RUnlock()
	wantState(t, &s, 0, false, 0)
}

// TestRWSemReaderBatch: releasing a writer admits the run of readers at
// the head of the queue, up to the next writer.
func TestRWSemReaderBatch(t *testing.T) {
	var s mm.RWSem
	s.TryLock()
	r1, _ := queue(t, &s, false)
	r2, _ := queue(t, &s, false)
	w2, _ := queue(t, &s, true)
	r3, _ := queue(t, &s, false)
	wantState(t, &s, 0, true, 4)

	s.Unlock()
	if !result(t, r1) || !result(t, r2) {
		t.Fatal("the readers at the head were not granted")
	}
	wantState(t, &s, 2, false, 2)
	pending(t, w2, "the second writer")
	pending(t, r3, "the reader behind the second writer")

	s.RUnlock()
	pending(t, w2, "the second writer, with a reader left")
	s.RUnlock()
	if !result(t, w2) {
		t.Fatal("the second writer was not granted")
	}
	wantState(t, &s, 0, true, 1)
	s.Unlock()
	if !result(t, r3) {
		t.Fatal("the last reader was not granted")
	}
	s.RUnlock()
	wantState(t, &s, 0, false, 0)
}

// TestRWSemDowngrade: downgrading lets the queued readers in, not the
// writer behind them.
func TestRWSemDowngrade(t *testing.T) {
	var s mm.RWSem
	s.TryLock()
	r1, _ := queue(t, &s, false)
	r2, _ := queue(t, &s, false)
	w, _ := queue(t, &s, true)

	s.Downgrade()
	if !result(t, r1) || !result(t, r2) {
		t.Fatal("Downgrade did not admit the queued readers")
	}
	wantState(t, &s, 3, false, 1)
	pending(t, w, "the writer behind the readers")
	if s.TryLock() || s.TryRLock() {
		t.Fatal("a trylock got in ahead of the queued writer")
	}
	for i := 0; i < 3; i++ {
		s.RUnlock()
	}
	if !result(t, w) {
		t.Fatal("the writer was not granted")
	}
	s.Unlock()
	wantState(t, &s, 0, false, 0)
}

func TestRWSemInterrupted(t *testing.T) {
	t.Run("reader behind a writer", func(t *testing.T) {
		var s mm.RWSem
		s.TryLock()
		if s.RLock(interrupted{}, sched.Killable) {
			t.Fatal("an interrupted RLock reported success")
		}
		wantState(t, &s, 0, true, 0)
		s.Unlock()
		wantState(t, &s, 0, false, 0)
	})
	t.Run("writer behind a reader", func(t *testing.T) {
		var s mm.RWSem
		s.TryRLock()
		if s.Lock(interrupted{}, sched.Killable) {
			t.Fatal("an interrupted Lock reported success")
		}
		wantState(t, &s, 1, false, 0)
		if !s.TryRLock() {
			t.Fatal("the interrupted writer still keeps readers out")
		}
		s.RUnlock()
		s.RUnlock()
		wantState(t, &s, 0, false, 0)
	})
	t.Run("interrupted head lets readers behind it in", func(t *testing.T) {
		var s mm.RWSem
		s.TryRLock()
		w, wg := queue(t, &s, true)
		r, _ := queue(t, &s, false)
		wantState(t, &s, 1, false, 2)
		close(wg.intr)
		if result(t, w) {
			t.Fatal("the interrupted writer reported success")
		}
		if !result(t, r) {
			t.Fatal("the reader behind the interrupted writer was not admitted")
		}
		wantState(t, &s, 2, false, 0)
		s.RUnlock()
		s.RUnlock()
		wantState(t, &s, 0, false, 0)
	})
	t.Run("interrupted in the middle of the queue", func(t *testing.T) {
		var s mm.RWSem
		s.TryLock()
		r1, _ := queue(t, &s, false)
		w, wg := queue(t, &s, true)
		r2, _ := queue(t, &s, false)
		close(wg.intr)
		if result(t, w) {
			t.Fatal("the interrupted writer reported success")
		}
		wantState(t, &s, 0, true, 2)
		s.Unlock()
		if !result(t, r1) || !result(t, r2) {
			t.Fatal("the readers were not both admitted")
		}
		wantState(t, &s, 2, false, 0)
		s.RUnlock()
		s.RUnlock()
	})
	t.Run("grant racing with the interruption counts", func(t *testing.T) {
		for _, write := range []bool{false, true} {
			var s mm.RWSem
			s.TryLock()
			rs := racingSleeper{asleep: make(chan struct{}, 1)}
			res := acquire(&s, write, rs)
			waitAsleep(t, rs.asleep)
			s.Unlock()
			if !result(t, res) {
				t.Fatalf("write=%v: a lock handed over as the signal came was reported as not taken", write)
			}
			if write {
				wantState(t, &s, 0, true, 0)
				s.Unlock()
			} else {
				wantState(t, &s, 1, false, 0)
				s.RUnlock()
			}
			wantState(t, &s, 0, false, 0)
		}
	})
}

func TestRWSemMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *mm.RWSem)
		want string
	}{
		{"RUnlock of a free lock", func(s *mm.RWSem) { s.RUnlock() }, "not read-locked"},
		{"Unlock of a free lock", func(s *mm.RWSem) { s.Unlock() }, "not write-locked"},
		{"Unlock of a read lock", func(s *mm.RWSem) { s.TryRLock(); s.Unlock() }, "not write-locked"},
		{"Downgrade of a read lock", func(s *mm.RWSem) { s.TryRLock(); s.Downgrade() }, "not write-locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s mm.RWSem
			msg := func() (msg string) {
				defer func() {
					if r := recover(); r != nil {
						msg, _ = r.(string)
					}
				}()
				tc.run(&s)
				return ""
			}()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q, want one containing %q", msg, tc.want)
			}
		})
	}
}

// TestRWSemStress runs readers, writers, trylockers and downgraders
// concurrently and checks mutual exclusion (run with -race: the data
// guarded by the lock is a plain variable).
func TestRWSemStress(t *testing.T) {
	const workers, rounds = 8, 300
	var (
		s        mm.RWSem
		readers  atomic.Int32
		writers  atomic.Int32
		guarded  int // written under the write lock only
		bad      atomic.Int32
		acquired atomic.Int64
	)
	stop := make(chan struct{})
	timer := time.AfterFunc(hangGuard, func() { close(stop) })
	defer timer.Stop()
	sl := sched.Blocking{Stop: stop}

	enterW := func() {
		if writers.Add(1) != 1 || readers.Load() != 0 {
			bad.Add(1)
		}
		guarded++
	}
	leaveW := func() { writers.Add(-1) }
	enterR := func() int {
		readers.Add(1)
		if writers.Load() != 0 {
			bad.Add(1)
		}
		return guarded
	}
	leaveR := func() { readers.Add(-1) }

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for i := 0; i < rounds; i++ {
				switch rng.IntN(5) {
				case 0:
					if !s.Lock(sl, sched.Killable) {
						bad.Add(1)
						return
					}
					enterW()
					leaveW()
					s.Unlock()
				case 1:
					if !s.RLock(sl, sched.Killable) {
						bad.Add(1)
						return
					}
					_ = enterR()
					leaveR()
					s.RUnlock()
				case 2:
					if s.TryLock() {
						enterW()
						leaveW()
						s.Unlock()
					}
				case 3:
					if s.TryRLock() {
						_ = enterR()
						leaveR()
						s.RUnlock()
					}
				case 4:
					if !s.Lock(sl, sched.Killable) {
						bad.Add(1)
						return
					}
					enterW()
					leaveW()
					s.Downgrade()
					_ = enterR()
					leaveR()
					s.RUnlock()
				}
				acquired.Add(1)
			}
		}(uint64(w))
	}
	wg.Wait()
	select {
	case <-stop:
		t.Fatal("the stress test hung (a waiter was never granted)")
	default:
	}
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d exclusion violations or failed acquisitions", n)
	}
	if acquired.Load() != workers*rounds {
		t.Fatalf("%d rounds finished, want %d", acquired.Load(), workers*rounds)
	}
	wantState(t, &s, 0, false, 0)
}
