package mm_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
)

// The stack under test: a growsdown VMA [stackLo, stackHi).
const (
	stackHi = uint64(0x7f0000000000)
	stackLo = stackHi - 4*pg
	gapPg   = 256 // default stack_guard_gap, in pages
)

// expand grows the stack VMA down to addr under the write lock.
func (f *fixture) expand(addr uint64) abi.Errno {
	f.t.Helper()
	var err error
	f.withWrite(func() {
		v := f.m.FindVMA(addr)
		if v == nil || v.Flags&mm.VMGrowsDown == 0 || v.Start <= addr {
			f.t.Fatalf("no growsdown VMA above %#x", addr)
		}
		err = f.m.ExpandStackLocked(v, addr)
	})
	if err == nil {
		return 0
	}
	return err.(abi.Errno)
}

func TestExpandStackLocked(t *testing.T) {
	const limit = 16 * pg
	tests := []struct {
		name      string
		neighbour func(f *fixture) // maps what lies below the stack
		addr      uint64
		err       abi.Errno
	}{
		{"one page", nil, stackLo - 1, 0},
		{"exactly RLIMIT_STACK", nil, stackHi - limit, 0},
		{"exactly RLIMIT_STACK, unaligned address", nil, stackHi - limit + 123, 0},
		{"one page more than RLIMIT_STACK", nil, stackHi - limit - pg, abi.ENOMEM},
		{"one byte more than RLIMIT_STACK", nil, stackHi - limit - 1, abi.ENOMEM},
		{"far below", nil, stackHi - 1024*pg, abi.ENOMEM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.m.SetStackLimit(limit)
			f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
			wantErrno(t, "ExpandStackLocked", f.expand(tc.addr), tc.err)
			f.check()
			want := stackLo
			if tc.err == 0 {
				want = tc.addr &^ (pg - 1)
			}
			v := f.vma(stackHi - 1)
			if v == nil || v.Start != want || v.End != stackHi {
				t.Fatalf("stack VMA = %v, want [%#x,%#x)", v, want, stackHi)
			}
			if v.PgOff != want/pg {
				t.Errorf("PgOff = %#x, want %#x (it moves with the start)", v.PgOff, want/pg)
			}
			if lv := f.m.LockVMAUnderRCU(want); lv != v {
				t.Errorf("the lockless index does not see the new start: %v", lv)
			} else {
				lv.EndRead()
			}
		})
	}
}

// TestStackGuardGap places a VMA below the stack and grows the stack
// toward it.
func TestStackGuardGap(t *testing.T) {
	const nb = stackLo - 1024*pg // the neighbour's end
	tests := []struct {
		name  string
		prot  mm.Prot
		flags mm.MapFlags
		addr  uint64
		err   abi.Errno
	}{
		{"exactly the gap", ro, 0, nb + gapPg*pg, 0},
		{"one page short of the gap", ro, 0, nb + (gapPg-1)*pg, abi.ENOMEM},
		{"one byte short of the gap", ro, 0, nb + gapPg*pg - 1, abi.ENOMEM},
		{"touching the neighbour", ro, 0, nb, abi.ENOMEM},
		{"writable neighbour", rw, 0, nb + (gapPg-1)*pg, abi.ENOMEM},
		{"exec-only neighbour", mm.ProtExec, 0, nb + 10*pg, abi.ENOMEM},
		{"PROT_NONE neighbour does not count", none, 0, nb + pg, 0},
		{"PROT_NONE neighbour, right above it", none, 0, nb, 0},
		{"growsdown neighbour does not count", rw, mm.MapGrowsDown, nb + pg, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
			f.mapAt(nb-pg, 1, tc.prot, tc.flags)
			wantErrno(t, "ExpandStackLocked", f.expand(tc.addr), tc.err)
			f.check()
			if v := f.vma(stackHi - 1); tc.err == 0 && v.Start != tc.addr&^(pg-1) || tc.err != 0 && v.Start != stackLo {
				t.Errorf("stack starts at %#x", v.Start)
			}
		})
	}
}

// TestStackGuardGapConfig: the gap follows the configuration.
func TestStackGuardGapConfig(t *testing.T) {
	for _, gap := range []uint64{0, 1, 16} {
		f := setup(t, func(c *config.Kernel) { c.StackGuardGap = gap })
		f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
		f.mapAt(stackLo-200*pg, 1, ro, 0)
		nb := stackLo - 199*pg
		if gap > 0 {
			wantErrno(t, "one page short", f.expand(nb+(gap-1)*pg), abi.ENOMEM)
		}
		wantErrno(t, "exactly the gap", f.expand(nb+gap*pg), 0)
	}
}

func TestStackMmapMinAddr(t *testing.T) {
	tests := []struct {
		name    string
		minAddr uint64
		addr    uint64
		err     abi.Errno
	}{
		{"below mmap_min_addr", 0x10000, 0xf000, abi.EPERM},
		{"just below, unaligned", 0x10000, 0xffff, abi.EPERM},
		{"exactly mmap_min_addr", 0x10000, 0x10000, 0},
		{"page zero with mmap_min_addr 0", 0, 0, 0},
		{"one page up", 0x10000, 0x11000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, func(c *config.Kernel) { c.MmapMinAddr = tc.minAddr })
			f.mapAt(0x20000, 1, rw, mm.MapGrowsDown)
			wantErrno(t, "ExpandStackLocked", f.expand(tc.addr), tc.err)
			f.check()
		})
	}
}

// TestSetStackLimit: lowering RLIMIT_STACK takes effect at the next
// expansion.
func TestSetStackLimit(t *testing.T) {
	f := setup(t)
	if f.m.StackLimit() != 8<<20 {
		t.Fatalf("default RLIMIT_STACK = %d, want 8 MiB", f.m.StackLimit())
	}
	f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
	wantErrno(t, "grow to 4 MiB", f.expand(stackHi-4<<20), 0)
	f.m.SetStackLimit(256 << 10)
	wantErrno(t, "grow with a lowered limit", f.expand(stackHi-4<<20-pg), abi.ENOMEM)
}

func TestLockAndFindVMA(t *testing.T) {
	const limit = 16 * pg
	tests := []struct {
		name      string
		addr      uint64
		wantStart uint64 // 0: nil
	}{
		{"inside the stack", stackLo + 5, stackLo},
		{"inside the other VMA", low, low},
		{"just below the stack", stackLo - 8, stackLo - pg},
		{"exactly RLIMIT_STACK below the top", stackHi - limit, stackHi - limit},
		{"beyond RLIMIT_STACK", stackHi - limit - 1, 0},
		{"below an ordinary VMA", low - 8, 0},
		{"above everything", stackHi + pg, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.m.SetStackLimit(limit)
			f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
			f.mapAt(low, 1, rw, 0)
			v := f.m.LockAndFindVMA(tc.addr, ns, true, false)
			r, w, _ := f.m.LockState()
			if tc.wantStart == 0 {
				if v != nil {
					t.Fatalf("LockAndFindVMA(%#x) = [%#x,%#x), want nil", tc.addr, v.Start, v.End)
				}
				if r != 0 || w {
					t.Fatalf("nil returned holding %d readers, writer %v", r, w)
				}
			} else {
				if v == nil || v.Start != tc.wantStart || !v.Contains(tc.addr) {
					t.Fatalf("LockAndFindVMA(%#x) = %v, want a VMA from %#x", tc.addr, v, tc.wantStart)
				}
				if r != 1 || w {
					t.Fatalf("returned holding %d readers, writer %v; want the read lock", r, w)
				}
				f.m.MmapReadUnlock()
			}
			f.check()
			if s := f.vma(stackHi - 1); tc.wantStart == 0 && s.Start != stackLo {
				t.Errorf("a refused fault moved the stack to %#x", s.Start)
			}
		})
	}
}

// TestLockAndFindVMAContended: a kernel fault without an exception-table
// entry does not wait for the lock; any fault interrupted while waiting
// gives up; neither leaves anything held or queued.
func TestLockAndFindVMAContended(t *testing.T) {
	tests := []struct {
		name           string
		user, hasFixup bool
		sl             sched.Sleeper
	}{
		{"kernel fault without fixup", false, false, nil},
		{"user fault interrupted", true, false, interrupted{}},
		{"kernel fault with fixup interrupted", false, true, interrupted{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.mapAt(low, 1, rw, 0)
			if !f.m.MmapWriteTryLock() {
				t.Fatal("write trylock failed")
			}
			sl := tc.sl
			if sl == nil {
				sl = panicSleeper{t}
			}
			if v := f.m.LockAndFindVMA(low, sl, tc.user, tc.hasFixup); v != nil {
				t.Fatal("LockAndFindVMA succeeded against a held write lock")
			}
			r, w, _ := f.m.LockState()
			if r != 0 || !w {
				t.Fatalf("lock state %d readers, writer %v", r, w)
			}
			f.m.MmapWriteUnlock()
			f.check()
		})
	}
}

// panicSleeper fails the test if anything sleeps on it.
type panicSleeper struct{ t *testing.T }

func (p panicSleeper) Sleep(*sched.Event, sched.Mode) bool {
	p.t.Error("slept, but must not wait")
	return false
}

// TestLockAndFindVMAWaits: a user fault waits for a writer, then finds
// the VMA as the writer left it.
func TestLockAndFindVMAWaits(t *testing.T) {
	f := setup(t)
	f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
	if !f.m.MmapWriteTryLock() {
		t.Fatal("write trylock failed")
	}
	g := newGate()
	res := make(chan *mm.VMA, 1)
	go func() { res <- f.m.LockAndFindVMA(stackLo-pg, g, true, false) }()
	waitAsleep(t, g.asleep)
	f.m.MmapWriteUnlock() // hands the read lock over; the expansion then takes the free write lock
	var v *mm.VMA
	select {
	case v = <-res:
	case <-waitTimeout():
		t.Fatal("LockAndFindVMA never returned")
	}
	if v == nil || v.Start != stackLo-pg {
		t.Fatalf("LockAndFindVMA = %v, want the stack grown to %#x", v, stackLo-pg)
	}
	f.m.MmapReadUnlock()
	f.check()
}

func TestLockVMAUnderRCU(t *testing.T) {
	f := setup(t)
	f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
	f.mapAt(low, 3, rw, 0)
	tests := []struct {
		name      string
		addr      uint64
		wantStart uint64 // 0: nil
	}{
		{"first byte", low, low},
		{"last byte", low + 3*pg - 1, low},
		{"end", low + 3*pg, 0},
		{"below: no find_vma semantics", low - 1, 0},
		{"below the stack: no expansion", stackLo - 1, 0},
		{"inside the stack", stackLo, stackLo},
		{"nothing mapped", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := f.m.LockVMAUnderRCU(tc.addr)
			if tc.wantStart == 0 {
				if v != nil {
					t.Fatalf("LockVMAUnderRCU(%#x) = [%#x,%#x), want nil", tc.addr, v.Start, v.End)
				}
				f.check()
				return
			}
			if v == nil || v.Start != tc.wantStart {
				t.Fatalf("LockVMAUnderRCU(%#x) = %v, want the VMA at %#x", tc.addr, v, tc.wantStart)
			}
			if _, _, n := f.m.LockState(); n != 1 {
				t.Errorf("%d VMA readers, want 1", n)
			}
			v.EndRead()
			f.check()
		})
	}
	if v := f.vma(stackHi - 1); v.Start != stackLo {
		t.Errorf("a lockless lookup grew the stack to %#x", v.Start)
	}
}

// TestLockVMAUnderRCUVersion: per-VMA locks exist from Linux 6.4 on;
// before, the lockless lookup finds nothing and every fault takes the
// mmap lock.
func TestLockVMAUnderRCUVersion(t *testing.T) {
	for _, tc := range []struct {
		version config.Version
		locks   bool
	}{
		{config.Version{Major: 5, Minor: 15}, false},
		{config.Version{Major: 6, Minor: 1}, false},
		{config.Version{Major: 6, Minor: 3}, false},
		{config.Version{Major: 6, Minor: 4}, true},
		{config.Version{Major: 6, Minor: 18}, true},
		{config.Version{Major: 7, Minor: 2}, true},
	} {
		t.Run(tc.version.String(), func(t *testing.T) {
			f := setup(t, func(c *config.Kernel) { c.Version = tc.version })
			f.mapAt(low, 1, rw, 0)
			v := f.m.LockVMAUnderRCU(low)
			if got := v != nil; got != tc.locks {
				t.Fatalf("LockVMAUnderRCU at %v: locked %v, want %v", tc.version, got, tc.locks)
			}
			if v != nil {
				v.EndRead()
			}
			f.check()
		})
	}
}

// TestLockVMAUnderRCUWriteLocked: a VMA marked by an ongoing mmap write
// section cannot be read-locked until the section ends; another VMA can.
func TestLockVMAUnderRCUWriteLocked(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 1, rw, 0)
	f.mapAt(low+2*pg, 1, rw, 0)
	if !f.m.MmapWriteTryLock() {
		t.Fatal("write trylock failed")
	}
	f.m.FindVMA(low).StartWrite()
	if v := f.m.LockVMAUnderRCU(low); v != nil {
		v.EndRead()
		t.Fatal("a write-locked VMA was read-locked")
	}
	other := f.m.LockVMAUnderRCU(low + 2*pg)
	if other == nil {
		t.Fatal("an untouched VMA could not be read-locked during the write section")
	}
	other.EndRead()
	f.m.MmapWriteUnlock()
	v := f.m.LockVMAUnderRCU(low)
	if v == nil {
		t.Fatal("the VMA stays locked after MmapWriteUnlock")
	}
	v.EndRead()

	// A downgrade ends the VMA write locks too.
	if !f.m.MmapWriteTryLock() {
		t.Fatal("write trylock failed")
	}
	f.m.FindVMA(low).StartWrite()
	f.m.MmapWriteDowngrade()
	v = f.m.LockVMAUnderRCU(low)
	if v == nil {
		t.Fatal("the VMA stays locked after MmapWriteDowngrade")
	}
	v.EndRead()
	f.m.MmapReadUnlock()
	f.check()
}

// TestLockVMAUnderRCUAfterChanges: the lockless index follows munmap and
// mprotect once they finish.
func TestLockVMAUnderRCUAfterChanges(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 3, rw, 0)
	old := f.m.LockVMAUnderRCU(low + pg)
	if old == nil {
		t.Fatal("no VMA")
	}
	old.EndRead()
	wantErrno(t, "Mprotect", f.m.Mprotect(ns, low+pg, pg, ro), 0)
	mid := f.m.LockVMAUnderRCU(low + pg)
	if mid == nil || mid.Start != low+pg || mid.End != low+2*pg || mid.Flags&mm.VMWrite != 0 {
		t.Fatalf("after mprotect: %v, want the read-only middle VMA", mid)
	}
	mid.EndRead()
	wantErrno(t, "Munmap", f.m.Munmap(ns, low+pg, pg), 0)
	if v := f.m.LockVMAUnderRCU(low + pg); v != nil {
		v.EndRead()
		t.Fatal("an unmapped VMA was found")
	}
	if !mid.Detached() {
		t.Error("the unmapped VMA is not detached")
	}
	if v := f.m.LockVMAUnderRCU(low + 2*pg); v == nil || v.Start != low+2*pg {
		t.Fatalf("upper VMA: %v", v)
	} else {
		v.EndRead()
	}
	f.check()
}

// TestStartWriteWaitsForReaders: marking a VMA waits for its readers.
func TestStartWriteWaitsForReaders(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 1, rw, 0)
	v := f.m.LockVMAUnderRCU(low)
	if v == nil {
		t.Fatal("no VMA")
	}
	done := make(chan struct{})
	go func() {
		f.m.MmapWriteLock(ns, sched.Killable)
		v.StartWrite()
		f.m.MmapWriteUnlock()
		close(done)
	}()
	v.EndRead()
	select {
	case <-done:
	case <-waitTimeout():
		t.Fatal("StartWrite never returned after the reader left")
	}
	f.check()
}

// TestExpandStackNeverOverlaps: asked to grow over the VMA below (one the
// guard gap does not count, PROT_NONE), expansion refuses instead of
// making the two overlap. (Regression.)
func TestExpandStackNeverOverlaps(t *testing.T) {
	f := setup(t)
	f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
	f.mapAt(stackLo-8*pg, 4, mm.ProtNone, 0)
	var err error
	f.withWrite(func() {
		err = f.m.ExpandStackLocked(f.m.FindVMA(stackLo), stackLo-6*pg)
	})
	if err != abi.ENOMEM {
		t.Fatalf("expanding over a PROT_NONE VMA: %v, want ENOMEM", err)
	}
	f.check()
}
