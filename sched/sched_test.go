package sched_test

import (
	"testing"
	"time"

	"github.com/faultline/faultline/sched"
)

// hangGuard bounds every wait in these tests; it is never a timing
// assertion, only a way to fail instead of hanging.
const hangGuard = 10 * time.Second

// recWaiter records its wake-ups and whether the event's channel was
// still open when it was told.
type recWaiter struct {
	ev          *sched.Event
	woken       int
	doneAtWoken bool
}

func (w *recWaiter) Woken() {
	w.woken++
	select {
	case <-w.ev.Done():
		w.doneAtWoken = true
	default:
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestEvent(t *testing.T) {
	tests := []struct {
		name string
		// run drives the event and the waiter and returns what the last
		// Wait or Cancel reported.
		run       func(ev *sched.Event, w *recWaiter) bool
		wantRet   bool
		wantFired bool
		wantWoken int
	}{
		{"new event", func(ev *sched.Event, w *recWaiter) bool { return false }, false, false, 0},
		{"fire without waiter", func(ev *sched.Event, w *recWaiter) bool { ev.Fire(); return false }, false, true, 0},
		{"wait registers", func(ev *sched.Event, w *recWaiter) bool { return ev.Wait(w) }, true, false, 0},
		{"wait then fire wakes once", func(ev *sched.Event, w *recWaiter) bool {
			ok := ev.Wait(w)
			ev.Fire()
			ev.Fire()
			return ok
		}, true, true, 1},
		{"wait after fire registers nothing", func(ev *sched.Event, w *recWaiter) bool {
			ev.Fire()
			return ev.Wait(w)
		}, false, true, 0},
		{"cancel before fire", func(ev *sched.Event, w *recWaiter) bool {
			ev.Wait(w)
			ret := ev.Cancel(w)
			ev.Fire() // w is gone: not told
			return ret
		}, false, true, 0},
		{"cancel after fire", func(ev *sched.Event, w *recWaiter) bool {
			ev.Wait(w)
			ev.Fire()
			return ev.Cancel(w)
		}, true, true, 1},
		{"cancel by another waiter keeps w", func(ev *sched.Event, w *recWaiter) bool {
			ev.Wait(w)
			ret := ev.Cancel(&recWaiter{ev: ev})
			ev.Fire()
			return ret
		}, false, true, 1},
		{"cancel without wait", func(ev *sched.Event, w *recWaiter) bool { return ev.Cancel(w) }, false, false, 0},
		{"every waiter is told", func(ev *sched.Event, w *recWaiter) bool {
			first := &recWaiter{ev: ev}
			ev.Wait(first)
			ok := ev.Wait(w) // a second sleeper must not displace the first
			ev.Fire()
			if first.woken != 1 || first.doneAtWoken {
				t.Errorf("the first of two waiters was told %d times (after Done: %v)", first.woken, first.doneAtWoken)
			}
			return ok
		}, true, true, 1},
		{"cancel of one waiter keeps the other", func(ev *sched.Event, w *recWaiter) bool {
			other := &recWaiter{ev: ev}
			ev.Wait(other)
			ev.Wait(w)
			ev.Cancel(other)
			ev.Fire()
			if other.woken != 0 {
				t.Error("a cancelled waiter was told")
			}
			return true
		}, true, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sched.NewEvent()
			w := &recWaiter{ev: ev}
			if got := tc.run(ev, w); got != tc.wantRet {
				t.Errorf("Wait/Cancel reported %v, want %v", got, tc.wantRet)
			}
			if ev.Fired() != tc.wantFired {
				t.Errorf("Fired() = %v, want %v", ev.Fired(), tc.wantFired)
			}
			if closed(ev.Done()) != tc.wantFired {
				t.Errorf("Done() closed = %v, want %v", closed(ev.Done()), tc.wantFired)
			}
			if w.woken != tc.wantWoken {
				t.Errorf("Woken called %d times, want %d", w.woken, tc.wantWoken)
			}
			if w.doneAtWoken {
				t.Error("Woken was called after Done() was closed: a wake could go unseen")
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[sched.Mode]string{
		sched.Uninterruptible: "uninterruptible",
		sched.Killable:        "killable",
		sched.Interruptible:   "interruptible",
		sched.Mode(9):         "mode?",
	} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestNoSleep(t *testing.T) {
	for _, mode := range []sched.Mode{sched.Uninterruptible, sched.Killable, sched.Interruptible} {
		t.Run(mode.String(), func(t *testing.T) {
			ev := sched.NewEvent()
			if (sched.NoSleep{}).Sleep(ev, mode) {
				t.Error("NoSleep reported a wake for an event that has not fired")
			}
			ev.Fire()
			if !(sched.NoSleep{}).Sleep(ev, mode) {
				t.Error("NoSleep reported no wake for a fired event")
			}
		})
	}
}

func TestBlocking(t *testing.T) {
	tests := []struct {
		name string
		// before runs before Sleep; after runs once Sleep is under way.
		before, after func(ev *sched.Event, stop chan struct{})
		want          bool
	}{
		{"already fired", func(ev *sched.Event, _ chan struct{}) { ev.Fire() }, nil, true},
		{"fired while asleep", nil, func(ev *sched.Event, _ chan struct{}) { ev.Fire() }, true},
		{"stopped while asleep", nil, func(_ *sched.Event, stop chan struct{}) { close(stop) }, false},
		{"stopped before", func(_ *sched.Event, stop chan struct{}) { close(stop) }, nil, false},
		{"stopped and fired", func(ev *sched.Event, stop chan struct{}) { close(stop); ev.Fire() }, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := sched.NewEvent()
			stop := make(chan struct{})
			if tc.before != nil {
				tc.before(ev, stop)
			}
			res := make(chan bool, 1)
			go func() { res <- sched.Blocking{Stop: stop}.Sleep(ev, sched.Killable) }()
			if tc.after != nil {
				tc.after(ev, stop)
			}
			select {
			case got := <-res:
				if got != tc.want {
					t.Errorf("Sleep = %v, want %v", got, tc.want)
				}
			case <-time.After(hangGuard):
				t.Fatal("Sleep did not return")
			}
		})
	}
}

// TestBlockingWaitsForFire checks that a Blocking sleep does not return
// before its event fires.
func TestBlockingWaitsForFire(t *testing.T) {
	ev := sched.NewEvent()
	res := make(chan bool, 1)
	go func() { res <- sched.Blocking{}.Sleep(ev, sched.Uninterruptible) }()
	select {
	case <-res:
		t.Fatal("Sleep returned before the event fired")
	case <-time.After(10 * time.Millisecond):
	}
	ev.Fire()
	select {
	case got := <-res:
		if !got {
			t.Error("Sleep = false after the event fired")
		}
	case <-time.After(hangGuard):
		t.Fatal("Sleep did not return after Fire")
	}
}
