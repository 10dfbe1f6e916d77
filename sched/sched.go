// Package sched is how code below the task layer sleeps on behalf of a task.
//
// A resolver that must wait (for a lock, for I/O, for a userfaultfd reply)
// cannot import the task layer, which sits above it. It is handed a Sleeper
// instead, implemented by the task layer: "sleep until this Event fires,
// or until a signal of this kind arrives; tell me which". The modes are
// the kernel's task states TASK_UNINTERRUPTIBLE, TASK_KILLABLE and
// TASK_INTERRUPTIBLE.
//
// An Event tells its sleeper it was woken before the sleeper can run
// again, so that a scheduler watching the tasks (the scenario runner)
// always knows which are runnable: a wake is never in flight unseen.
package sched

import (
	"sync"
	"sync/atomic"
)

// Mode says which signals end a sleep.
type Mode int

// Sleep modes, as the kernel's task states.
const (
	// Uninterruptible sleeps end only when woken (TASK_UNINTERRUPTIBLE).
	Uninterruptible Mode = iota
	// Killable sleeps also end when a fatal signal is pending (TASK_KILLABLE).
	Killable
	// Interruptible sleeps end when any signal is pending (TASK_INTERRUPTIBLE).
	Interruptible
)

func (m Mode) String() string {
	switch m {
	case Uninterruptible:
		return "uninterruptible"
	case Killable:
		return "killable"
	case Interruptible:
		return "interruptible"
	}
	return "mode?"
}

// Sleeper sleeps for one task.
type Sleeper interface {
	// Sleep blocks until ev fires, or until a signal that mode lets
	// through is pending. It reports true when woken, false when
	// interrupted. A signal already pending interrupts at once
	// (signal_pending_state). Every Sleep is bounded: when the model
	// shuts down, sleepers of every mode are interrupted.
	Sleep(ev *Event, mode Mode) (woken bool)
}

// Waiter is told, synchronously, that an Event it sleeps on fired.
type Waiter interface {
	Woken()
}

// Event is a one-shot wake-up: a completion. Any number of sleepers may
// wait on it (a page lock has as many waiters as faults on the page).
type Event struct {
	mu      sync.Mutex // guards fired and waiters
	fired   bool
	waiters []Waiter
	// done is the Done channel: made by the first Done, and closed (or,
	// if none was made, set to closed) once Fire has told every waiter.
	// Most events (a page's read, which the faulting task completes
	// before it sleeps) fire before anyone waits, and need no channel.
	done atomic.Pointer[chan struct{}]
}

// NewEvent returns an event that has not fired.
func NewEvent() *Event { return &Event{} }

// closed is the Done channel of every event that fired before a Done.
var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Fire wakes every sleeper, and every later Sleep on the event returns at
// once (complete_all). Firing twice is harmless.
func (e *Event) Fire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fired {
		return
	}
	e.fired = true
	for _, w := range e.waiters {
		w.Woken() // before the sleeper can run: no unseen wake
	}
	e.waiters = nil
	for {
		old := e.done.Load()
		if e.done.CompareAndSwap(old, &closed) {
			if old != nil {
				close(*old)
			}
			return
		}
	}
}

// Fired reports whether the event has fired.
func (e *Event) Fired() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fired
}

// Done returns a channel closed when the event fires, after its waiters
// were told. It takes no lock: a Waiter may call it from Woken.
func (e *Event) Done() <-chan struct{} {
	for {
		if ch := e.done.Load(); ch != nil {
			return *ch
		}
		ch := make(chan struct{})
		if e.done.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// Wait registers w as a sleeper on the event. It reports false,
// registering nothing, when the event already fired.
func (e *Event) Wait(w Waiter) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fired {
		return false
	}
	e.waiters = append(e.waiters, w)
	return true
}

// Cancel unregisters w, which stopped sleeping for another reason. It
// reports whether the event fired meanwhile (and w was told so).
func (e *Event) Cancel(w Waiter) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, x := range e.waiters {
		if x == w {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			break
		}
	}
	return e.fired
}

// NoSleep is a Sleeper for contexts that never wait: Sleep returns at
// once, reporting whether the event already fired. It stands in for a task
// in tests and for callers with nothing to interrupt them.
type NoSleep struct{}

// Sleep implements Sleeper.
func (NoSleep) Sleep(ev *Event, _ Mode) bool { return ev.Fired() }

// Blocking is a Sleeper that waits for the event alone, unless Stop is
// closed first. It is for tests and tools without signals.
type Blocking struct{ Stop <-chan struct{} }

// Sleep implements Sleeper.
func (b Blocking) Sleep(ev *Event, _ Mode) bool {
	select {
	case <-ev.Done():
		return true
	case <-b.Stop:
		return ev.Fired()
	}
}
