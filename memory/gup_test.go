package memory_test

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/vmfault"
)

// entries describes pages: 'n' none, 'z' zero page, 'r' a read-only
// frame, 'w' a writable frame, 'g' a guard marker, 'x' ProtNone.
func (e *env) entries(addr uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		p := e.pte(addr + uint64(i)*pg)
		switch {
		case p.None():
			b[i] = 'n'
		case p.IsMarker() && p.Marker() == pgtable.MarkerGuard:
			b[i] = 'g'
		case p.Has(pgtable.ProtNone):
			b[i] = 'x'
		case p.Present() && p.PFN() == e.alloc.ZeroPage().PFN():
			b[i] = 'z'
		case p.Present() && p.Has(pgtable.Write):
			b[i] = 'w'
		case p.Present():
			b[i] = 'r'
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

// TestPopulate lays out four pages at low, one per letter of layout
// ('w' rw private, 'r' read-only, 'n' PROT_NONE, '-' hole, 'g' rw with a
// guard marker, 's' shared rw), populates them all, and checks the errno
// and the entries.
func TestPopulate(t *testing.T) {
	tests := []struct {
		name     string
		layout   string
		mode     memory.PopulateMode
		zeroPage bool
		err      abi.Errno
		want     string
	}{
		{"write rw", "wwww", memory.PopulateWrite, true, 0, "wwww"},
		{"read rw, zero page", "wwww", memory.PopulateRead, true, 0, "zzzz"},
		{"read rw, no zero page", "wwww", memory.PopulateRead, false, 0, "wwww"},
		{"read read-only, no zero page", "rrrr", memory.PopulateRead, false, 0, "rrrr"},
		{"write read-only", "rrrr", memory.PopulateWrite, true, abi.EINVAL, "nnnn"},
		{"write, read-only in the middle", "wwrw", memory.PopulateWrite, true, abi.EINVAL, "wwnn"},
		{"read PROT_NONE", "wnww", memory.PopulateRead, true, abi.EINVAL, "znnn"},
		{"write across a hole", "ww-w", memory.PopulateWrite, true, abi.ENOMEM, "wwnn"},
		{"read across a hole", "-www", memory.PopulateRead, true, abi.ENOMEM, "nnnn"},
		{"read over a guard", "wgww", memory.PopulateRead, true, abi.EFAULT, "zgnn"},
		{"write over a guard", "wgww", memory.PopulateWrite, true, abi.EFAULT, "wgnn"},
		{"write shared", "ssss", memory.PopulateWrite, true, 0, "wwww"},
		{"map: private rw breaks COW", "wwww", memory.PopulateMap, true, 0, "wwww"},
		{"map: read-only reads", "rrrr", memory.PopulateMap, true, 0, "zzzz"},
		{"map: skips PROT_NONE", "wnnw", memory.PopulateMap, true, 0, "wnnw"},
		{"map: skips holes", "w--w", memory.PopulateMap, true, 0, "wnnw"},
		{"map: gives up on a VMA after a failure", "wgww", memory.PopulateMap, true, 0, "wgnn"},
		{"map: shared reads", "ssss", memory.PopulateMap, true, 0, "wwww"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.zeroPage)
			shm := memory.NewShmem(e.alloc, 4*pg)
			for i, c := range tc.layout {
				a := low + uint64(i)*pg
				switch c {
				case 'w', 'g':
					e.mapAt(a, 1, rw, 0, nil)
				case 'r':
					e.mapAt(a, 1, ro, 0, nil)
				case 'n':
					e.mapAt(a, 1, none, 0, nil)
				case 's':
					if _, err := e.m.Mmap(ns, mm.MapRequest{Addr: a, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapShared, Ops: shm, PgOff: uint64(i)}); err != 0 {
						t.Fatal(err)
					}
				}
				if c == 'g' {
					if err := e.m.Madvise(ns, a, pg, mm.AdviceGuardInstall); err != 0 {
						t.Fatal(err)
					}
				}
			}
			err := memory.Populate(e.m, e.task, low, low+4*pg, tc.mode)
			if err != tc.err {
				t.Fatalf("Populate = %v, want %v", err, tc.err)
			}
			e.unlocked()
			if got := e.entries(low, 4); got != tc.want {
				t.Errorf("entries %q, want %q", got, tc.want)
			}
			if err := e.m.CheckVMAs(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPopulateFaultErrors maps each failing fault to the errno
// MADV_POPULATE_* returns.
func TestPopulateFaultErrors(t *testing.T) {
	tests := []struct {
		name   string
		result vmfault.Reason
		err    abi.Errno
	}{
		{"sigbus", vmfault.SigBus, abi.EFAULT},
		{"sigsegv", vmfault.SigSegv, abi.EFAULT},
		{"oom", vmfault.OOM, abi.ENOMEM},
		{"hwpoison", vmfault.HWPoison, abi.EHWPOISON},
		{"hwpoison large", vmfault.HWPoisonLarge | vmfault.SetHIndex(1), abi.EHWPOISON},
	}
	for _, tc := range tests {
		for _, mode := range []memory.PopulateMode{memory.PopulateRead, memory.PopulateWrite} {
			t.Run(fmt.Sprintf("%s/mode %d", tc.name, mode), func(t *testing.T) {
				e := newEnv(t, true)
				b := &scripted{alloc: e.alloc, results: []vmfault.Reason{tc.result}}
				e.mapAt(low, 2, rw, 0, b)
				if err := memory.Populate(e.m, e.task, low, low+2*pg, mode); err != tc.err {
					t.Errorf("mode %d: Populate = %v, want %v", mode, err, tc.err)
				}
				e.unlocked()
				if e.task.minor+e.task.major != 0 {
					t.Error("a failed fault was accounted")
				}
			})
		}
	}
}

// TestPopulatePoisonMarker: a poisoned page stops MADV_POPULATE_READ with
// EHWPOISON, and MAP_POPULATE goes on.
func TestPopulatePoisonMarker(t *testing.T) {
	for _, tc := range []struct {
		mode memory.PopulateMode
		err  abi.Errno
	}{{memory.PopulateRead, abi.EHWPOISON}, {memory.PopulateMap, 0}} {
		e := newEnv(t, true)
		e.mapAt(low, 2, rw, 0, nil)
		e.setPTE(low+pg, pgtable.MkMarker(pgtable.MarkerPoisoned))
		if err := memory.Populate(e.m, e.task, low, low+2*pg, tc.mode); err != tc.err {
			t.Errorf("mode %d: Populate = %v, want %v", tc.mode, err, tc.err)
		}
		e.unlocked()
	}
}

func TestPopulateOOM(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 4, rw, 0, nil)
	e.alloc.SetLimit(2)
	if err := memory.Populate(e.m, e.task, low, low+4*pg, memory.PopulateWrite); err != abi.ENOMEM {
		t.Fatalf("Populate = %v, want ENOMEM", err)
	}
	e.unlocked()
	if got := e.entries(low, 4); got != "wwnn" {
		t.Errorf("entries %q, want the first two populated", got)
	}
	// MAP_POPULATE ignores the failure.
	if err := memory.Populate(e.m, e.task, low, low+4*pg, memory.PopulateMap); err != 0 {
		t.Errorf("PopulateMap = %v, want 0", err)
	}
	e.unlocked()
}

// TestPopulateRetry: Populate takes the lock again after the resolver
// dropped it, and the retried fault carries FAULT_FLAG_TRIED.
func TestPopulateRetry(t *testing.T) {
	e := newEnv(t, true)
	b := &scripted{alloc: e.alloc, results: []vmfault.Reason{vmfault.Retry, vmfault.Retry, 0}}
	e.mapAt(low, 1, ro, mm.MapShared, b)
	if err := memory.Populate(e.m, e.task, low, low+pg, memory.PopulateRead); err != 0 {
		t.Fatalf("Populate = %v", err)
	}
	e.unlocked()
	if b.calls() != 3 {
		t.Fatalf("->fault called %d times, want 3", b.calls())
	}
	if b.flags[0]&vmfault.FlagTried != 0 || b.flags[1]&vmfault.FlagTried == 0 || b.flags[2]&vmfault.FlagTried == 0 {
		t.Errorf("fault flags %v, want TRIED on the retries only", b.flags)
	}
	for _, f := range b.flags {
		if f&vmfault.FlagAllowRetry == 0 || f&vmfault.FlagKillable == 0 || f&vmfault.FlagUser != 0 {
			t.Errorf("fault flags %v, want ALLOW_RETRY|KILLABLE without USER", f)
		}
	}
	if e.task.major != 1 || e.task.minor != 0 {
		t.Errorf("faults minor %d major %d, want one major", e.task.minor, e.task.major)
	}
	if !e.pte(low).Present() {
		t.Errorf("entry %v", e.pte(low))
	}
}

// TestPopulateEndlessRetry: a resolver that never makes progress is cut
// off with EFAULT, and no lock is left held.
func TestPopulateEndlessRetry(t *testing.T) {
	e := newEnv(t, true)
	b := &scripted{alloc: e.alloc, results: []vmfault.Reason{vmfault.Retry}}
	e.mapAt(low, 1, ro, 0, b)
	if err := memory.Populate(e.m, e.task, low, low+pg, memory.PopulateRead); err != abi.EFAULT {
		t.Fatalf("Populate = %v, want EFAULT", err)
	}
	e.unlocked()
	if b.calls() < 2 || b.calls() > 1000 {
		t.Errorf("->fault called %d times", b.calls())
	}
}

// TestPopulateInterrupted: a signal while waiting for the mmap lock ends
// Populate with EINTR, holding nothing.
func TestPopulateInterrupted(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 1, rw, 0, nil)
	if !e.m.MmapWriteTryLock() {
		t.Fatal("trylock")
	}
	if err := memory.Populate(e.m, e.task, low, low+pg, memory.PopulateWrite); err != abi.EINTR {
		t.Errorf("Populate = %v, want EINTR", err)
	}
	if r, w, q := e.m.LockState(); r != 0 || !w || q != 0 {
		t.Errorf("lock state %d %v %d", r, w, q)
	}
	e.m.MmapWriteUnlock()
	if !e.pte(low).None() {
		t.Error("an interrupted populate faulted")
	}
}

// TestPopulateSkipsPresent: pages that already allow the access take no
// fault.
func TestPopulateSkipsPresent(t *testing.T) {
	e := newEnv(t, true)
	e.mapAt(low, 4, rw, 0, nil)
	e.fault(low+pg, write)
	pfn := e.pte(low + pg).PFN()
	faults := e.task.minor
	if err := memory.Populate(e.m, e.task, low, low+4*pg, memory.PopulateWrite); err != 0 {
		t.Fatal(err)
	}
	if e.pte(low+pg).PFN() != pfn {
		t.Error("a present writable page was replaced")
	}
	if got := e.task.minor - faults; got != 3 {
		t.Errorf("%d faults taken, want 3", got)
	}
	// A read populate of written memory takes none.
	if err := memory.Populate(e.m, e.task, low, low+4*pg, memory.PopulateRead); err != 0 || e.task.minor-faults != 3 {
		t.Errorf("read populate: %v, %d faults", err, e.task.minor-faults)
	}
	if e.inUse() != 4 {
		t.Errorf("pages in use %d", e.inUse())
	}
}
