package mm

import (
	"sync"

	"github.com/faultline/faultline/sched"
)

// RWSem is a reader/writer semaphore, as the kernel's rw_semaphore: FIFO
// hand-off to waiters, trylock, killable acquisition and write downgrade.
// The mmap lock is one.
//
// Waiters queue in arrival order; a new reader does not overtake a queued
// writer, so writers cannot starve. Releasing hands the lock directly to
// the waiters at the head of the queue (a writer, or a run of readers).
type RWSem struct {
	mu      sync.Mutex // guards everything below (the wait_lock)
	readers int        // readers holding the lock
	writer  bool       // a writer holds the lock
	queue   []*rwWaiter
}

type rwWaiter struct {
	write   bool
	granted bool         // the lock was handed over; guarded by RWSem.mu
	wake    *sched.Event // fires when granted
}

// TryRLock takes the lock for reading if it is free of writers and no
// writer waits (down_read_trylock).
func (s *RWSem) TryRLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer || len(s.queue) > 0 {
		return false
	}
	s.readers++
	return true
}

// TryLock takes the lock for writing if it is free (down_write_trylock).
func (s *RWSem) TryLock() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer || s.readers > 0 || len(s.queue) > 0 {
		return false
	}
	s.writer = true
	return true
}

// RLock takes the lock for reading, sleeping in mode on t. It reports false
// when a signal (as mode allows) ended the wait; the lock is then not held
// (down_read_killable returning -EINTR).
func (s *RWSem) RLock(t sched.Sleeper, mode sched.Mode) bool {
	return s.lock(t, mode, false)
}

// Lock takes the lock for writing; see RLock.
func (s *RWSem) Lock(t sched.Sleeper, mode sched.Mode) bool {
	return s.lock(t, mode, true)
}

func (s *RWSem) lock(t sched.Sleeper, mode sched.Mode, write bool) bool {
	s.mu.Lock()
	if len(s.queue) == 0 && !s.writer && (!write || s.readers == 0) {
		if write {
			s.writer = true
		} else {
			s.readers++
		}
		s.mu.Unlock()
		return true
	}
	w := &rwWaiter{write: write, wake: sched.NewEvent()}
	s.queue = append(s.queue, w)
	s.mu.Unlock()

	if t.Sleep(w.wake, mode) {
		return true
	}
	// Interrupted. A hand-off that raced with the signal wins: we own the
	// lock then, as rwsem_down_read_slowpath does.
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted {
		return true
	}
	for i, q := range s.queue {
		if q == w {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			break
		}
	}
	// Leaving the head of the queue may let readers behind us in.
	s.grantLocked()
	return false
}

// RUnlock releases a read hold (up_read).
func (s *RWSem) RUnlock() {
	s.mu.Lock()
	if s.readers <= 0 {
		s.mu.Unlock()
		panic("mm: RUnlock of an rwsem not read-locked")
	}
	s.readers--
	s.grantLocked()
	s.mu.Unlock()
}

// Unlock releases the write hold (up_write).
func (s *RWSem) Unlock() {
	s.mu.Lock()
	if !s.writer {
		s.mu.Unlock()
		panic("mm: Unlock of an rwsem not write-locked")
	}
	s.writer = false
	s.grantLocked()
	s.mu.Unlock()
}

// Downgrade turns the caller's write hold into a read hold without letting
// a writer in between (downgrade_write). Queued readers join.
func (s *RWSem) Downgrade() {
	s.mu.Lock()
	if !s.writer {
		s.mu.Unlock()
		panic("mm: Downgrade of an rwsem not write-locked")
	}
	s.writer = false
	s.readers++
	s.grantLocked()
	s.mu.Unlock()
}

// grantLocked hands the lock to the head of the queue if it can.
// Preconditions: s.mu is held.
func (s *RWSem) grantLocked() {
	for len(s.queue) > 0 && !s.writer {
		w := s.queue[0]
		if w.write {
			if s.readers > 0 {
				return
			}
			s.writer = true
		} else {
			s.readers++
		}
		w.granted = true
		w.wake.Fire()
		s.queue = s.queue[1:]
		if w.write {
			return
		}
	}
}

// State reports the holders: readers, whether a writer holds it, and how
// many wait. For tests and invariant checks.
func (s *RWSem) State() (readers int, writer bool, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readers, s.writer, len(s.queue)
}
