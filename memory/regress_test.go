package memory_test

import (
	"sync"
	"testing"

	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/vmfault"
)

// TestDontneedRacesFaults: MADV_DONTNEED runs under the mmap read lock,
// concurrently with faults; zapping must read each entry under its table
// lock, or a page installed meanwhile leaks and a page still mapped by a
// fork child is freed. (Regression: zapLocked cleared entries it had read
// without the lock.)
func TestDontneedRacesFaults(t *testing.T) {
	e := newEnv(t, true)
	const addr = 0x10000000
	e.mapAt(addr, 1, mm.ProtRead|mm.ProtWrite, 0, nil)
	for round := 0; round < 20000; round++ { // the race window is small: many rounds
		if err := memory.Populate(e.m, e.task, addr, addr+pg, memory.PopulateWrite); err != 0 {
			t.Fatal(err)
		}
		child := e.dup() // the page is now shared copy-on-write
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // the parent's COW fault replaces the entry...
			defer wg.Done()
			if err := memory.Populate(e.m, e.task, addr, addr+pg, memory.PopulateWrite); err != 0 {
				t.Errorf("populate: %v", err)
			}
		}()
		go func() { // ...while MADV_DONTNEED zaps it
			defer wg.Done()
			if err := e.m.Madvise(sched.NoSleep{}, addr, pg, mm.AdviceDontneed); err != 0 {
				t.Errorf("dontneed: %v", err)
			}
		}()
		wg.Wait()
		counts := map[*phys.Page]int{}
		e.m.MapCounts(counts)
		child.m.MapCounts(counts)
		for p, n := range counts {
			if int(p.MapCount()) != n {
				t.Fatalf("round %d: page %d: map count %d for %d mappings", round, p.PFN(), p.MapCount(), n)
			}
		}
		child.m.Put()
	}
	e.m.Put()
	if n := e.inUse(); n != 0 {
		t.Fatalf("%d pages still in use after the address spaces went away", n)
	}
}

// TestWriteToReadOnlySharedIsSigsegv: a write fault on a shared mapping
// that is not writable is impossible and answered with VM_FAULT_SIGSEGV
// (sanitize_fault_flags), never by making the page writable.
func TestWriteToReadOnlySharedIsSigsegv(t *testing.T) {
	e := newEnv(t, true)
	const addr = 0x10000000
	shm := memory.NewShmem(e.alloc, pg)
	e.mapAt(addr, 1, mm.ProtRead, mm.MapShared, shm)
	if ret := e.fault(addr, vmfault.FlagWrite); ret != vmfault.SigSegv {
		t.Fatalf("write fault on a read-only shared mapping: %v, want SIGSEGV", ret)
	}
	if ret := e.fault(addr, 0); ret != 0 {
		t.Fatalf("read fault: %v", ret)
	}
	if ret := e.fault(addr, vmfault.FlagWrite); ret != vmfault.SigSegv {
		t.Fatalf("write fault on the mapped read-only page: %v, want SIGSEGV", ret)
	}
}
