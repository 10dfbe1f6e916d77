//go:build linux

package hostrun

import "time"

// The kernel offers no wakeup for "this thread went to sleep" (a pidfd
// polls only for its exit), so a wait for a thread's state reads /proc
// again and again. It does so on a short exponential backoff: the first
// look comes firstLook after the start, each next one after twice the
// last, up to lookCap. A state that shows up at once (a thread asleep in
// a userfaultfd wait within microseconds of its command) is seen within
// about twice the time it took; a statement that runs long is looked at
// once per lookCap, no more often than the runner's fixed 20 ms polls
// did (a memory cgroup's reclaim runs for hundreds of milliseconds, and
// its outcome on a loaded machine is sensitive enough to leave alone).
// The backoff decides nothing: what ends a wait is the state read, or
// the wait's bound.
const (
	firstLook = 50 * time.Microsecond
	lookCap   = 20 * time.Millisecond
)

// backoff is the schedule of one wait's looks.
type backoff struct{ next time.Duration }

// step returns how long to wait before the next look.
func (b *backoff) step() time.Duration {
	d := b.next
	if d == 0 {
		d = firstLook
	}
	b.next = min(2*d, lookCap)
	return d
}

// settle reads done until it holds or d has passed, and says which. The
// looks follow a backoff, so that a state reached at once ends the wait
// at once.
func settle(d time.Duration, done func() bool) bool {
	deadline := time.Now().Add(d)
	var b backoff
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(b.step())
	}
	return true
}
