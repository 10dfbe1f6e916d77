package mm_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// dup forks f's address space.
func (f *fixture) dup() *fixture {
	f.t.Helper()
	c, err := f.m.Dup(ns)
	if err != 0 {
		f.t.Fatalf("Dup: %v", err)
	}
	if err := c.CheckVMAs(); err != nil {
		f.t.Fatalf("child: %v", err)
	}
	return &fixture{t: f.t, m: c, alloc: f.alloc, cfg: f.cfg}
}

func TestDupPrivateCOW(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 2, rw, 0)
	f.populate(low, 2)
	f.page(low).Data()[0] = 0x11
	c := f.dup()
	f.check()
	c.check()
	for a := low; a < low+2*pg; a += pg {
		pp, cp := f.pte(a), c.pte(a)
		if !pp.Present() || !cp.Present() || pp.PFN() != cp.PFN() {
			t.Fatalf("%#x: parent %v child %v, want both present on one frame", a, pp, cp)
		}
		if pp.Has(pgtable.Write) || cp.Has(pgtable.Write) {
			t.Errorf("%#x: parent %v child %v, want both write-protected", a, pp, cp)
		}
		if cp.Has(pgtable.Accessed) {
			t.Errorf("%#x: the child's entry %v starts young", a, cp)
		}
		page := f.page(a)
		if page.MapCount() != 2 || page.Refs() != 2 {
			t.Errorf("%#x: map count %d refs %d, want 2 and 2", a, page.MapCount(), page.Refs())
		}
	}
	if c.page(low).Data()[0] != 0x11 {
		t.Error("the child does not see the parent's data")
	}
	if got := f.inUse(); got != 2 {
		t.Errorf("pages in use = %d, want 2 (nothing copied at fork)", got)
	}
	c.m.Put()
	for a := low; a < low+2*pg; a += pg {
		if p := f.page(a); p.MapCount() != 1 || p.Refs() != 1 {
			t.Errorf("%#x after the child exited: map count %d refs %d", a, p.MapCount(), p.Refs())
		}
	}
	f.m.Put()
	if st := f.alloc.Stats(); st.InUse != 0 || st.Frees != st.Allocs {
		t.Errorf("after both exited: %+v", st)
	}
}

func TestDupLayout(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 3, rw, 0)
	f.mapAt(low+5*pg, 1, ro, 0)
	f.mapAt(stackLo, 4, rw, mm.MapGrowsDown)
	wantErrno(t, "Madvise", f.m.Madvise(ns, low+pg, pg, mm.AdviceRandom), 0)
	f.m.SetStackLimit(123 * pg)
	c := f.dup()
	if got, want := c.spans(true), f.spans(true); len(got) != len(want) || len(got) != 5 {
		t.Fatalf("child VMAs %v, parent %v", got, want)
	} else {
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("child VMA %d = %v, parent %v", i, got[i], want[i])
			}
		}
	}
	if c.m.StackLimit() != 123*pg {
		t.Errorf("child RLIMIT_STACK = %d", c.m.StackLimit())
	}
	// The child's VMAs are its own.
	wantErrno(t, "child Munmap", c.m.Munmap(ns, low, 3*pg), 0)
	if f.vmaCount() != 5 || c.vmaCount() != 2 {
		t.Errorf("VMA counts parent %d child %d, want 5 and 2", f.vmaCount(), c.vmaCount())
	}
	if v := c.vma(stackLo); v == nil || v.MM() != c.m {
		t.Error("a child VMA does not belong to the child")
	}
	f.check()
	c.check()
}

func TestDupEntries(t *testing.T) {
	tests := []struct {
		name string
		// prepare sets up one page at low in the parent.
		prepare func(f *fixture)
		shared  bool
		want    func(parent, child pgtable.PTE) bool
	}{
		{"untouched page", func(*fixture) {}, false,
			func(p, c pgtable.PTE) bool { return p.None() && c.None() }},
		{"zero page: no anon_vma, nothing copied", func(f *fixture) {
			if err := memory.Populate(f.m, &faulter{}, low, low+pg, memory.PopulateRead); err != 0 {
				f.t.Fatal(err)
			}
		}, false, func(p, c pgtable.PTE) bool { return p.Has(pgtable.Special) && c.None() }},
		{"zero page in a VMA with an anon_vma", func(f *fixture) {
			if err := memory.Populate(f.m, &faulter{}, low, low+pg, memory.PopulateRead); err != 0 {
				f.t.Fatal(err)
			}
			f.vma(low).PrepareAnon()
		}, false, func(p, c pgtable.PTE) bool {
			return p.Has(pgtable.Special) && c.Has(pgtable.Special) && p.PFN() == c.PFN()
		}},
		{"written page: copied, both write-protected", func(f *fixture) {
			if err := memory.Populate(f.m, &faulter{}, low, low+pg, memory.PopulateWrite); err != 0 {
				f.t.Fatal(err)
			}
		}, false, func(p, c pgtable.PTE) bool {
			return p.PFN() == c.PFN() && c.Present() && !p.Has(pgtable.Write) && !c.Has(pgtable.Write)
		}},
		{"guard marker", func(f *fixture) { f.setPTE(low, pgtable.MkMarker(pgtable.MarkerGuard)) }, false,
			func(p, c pgtable.PTE) bool { return c.IsMarker() && c.Marker() == pgtable.MarkerGuard && p == c }},
		{"poison marker", func(f *fixture) {
			f.vma(low).PrepareAnon()
			f.setPTE(low, pgtable.MkMarker(pgtable.MarkerPoisoned))
		}, false, func(p, c pgtable.PTE) bool { return c.Marker() == pgtable.MarkerPoisoned && p == c }},
		{"poison marker without an anon_vma is lost", func(f *fixture) { f.setPTE(low, pgtable.MkMarker(pgtable.MarkerPoisoned)) }, false,
			func(p, c pgtable.PTE) bool { return p.IsMarker() && c.None() }},
		{"uffd-wp marker is not inherited", func(f *fixture) { f.setPTE(low, pgtable.MkMarker(pgtable.MarkerUffdWP)) }, false,
			func(p, c pgtable.PTE) bool { return p.Marker() == pgtable.MarkerUffdWP && c.None() }},
		{"guard and uffd-wp keeps the guard", func(f *fixture) { f.setPTE(low, pgtable.MkMarker(pgtable.MarkerUffdWP|pgtable.MarkerGuard)) }, false,
			func(p, c pgtable.PTE) bool { return c.Marker() == pgtable.MarkerGuard }},
		{"swap entry is copied", func(f *fixture) {
			f.vma(low).PrepareAnon()
			f.setPTE(low, pgtable.MkSwap(1, 5))
		}, false, func(p, c pgtable.PTE) bool { return p.IsSwap() && c == p }},
		{"shared page is not copied", func(f *fixture) { f.populate(low, 1) }, true,
			func(p, c pgtable.PTE) bool { return p.Present() && p.Has(pgtable.Write) && c.None() }},
		{"shared page of a VMA with an anon_vma: copied, clean", func(f *fixture) {
			f.populate(low, 1)
			f.vma(low).PrepareAnon()
		}, true, func(p, c pgtable.PTE) bool {
			return p.Present() && c.Present() && p.PFN() == c.PFN() && c.Has(pgtable.Write) && !c.Has(pgtable.Dirty)
		}},
		{"guard marker in a shared mapping", func(f *fixture) { f.setPTE(low, pgtable.MkMarker(pgtable.MarkerGuard)) }, true,
			func(p, c pgtable.PTE) bool { return c.Marker() == pgtable.MarkerGuard }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			req := mm.MapRequest{Addr: low, Length: pg, Prot: rw, Flags: mm.MapFixedNoReplace}
			var shm *memory.Shmem
			if tc.shared {
				shm = memory.NewShmem(f.alloc, pg)
				req.Flags |= mm.MapShared
				req.Ops = shm
			}
			if _, err := f.m.Mmap(ns, req); err != 0 {
				t.Fatal(err)
			}
			tc.prepare(f)
			c := f.dup()
			if p, ch := f.pte(low), c.pte(low); !tc.want(p, ch) {
				t.Fatalf("parent %v, child %v", p, ch)
			}
			if v := c.vma(low); v == nil || v.Shared() != tc.shared || v.Ops != req.Ops {
				t.Fatalf("child VMA %v", v)
			}
			c.m.Put()
			f.m.Put()
			if shm != nil && shm.CachedPages() != 0 {
				t.Errorf("the shmem object keeps %d pages after both address spaces exited", shm.CachedPages())
			}
			if st := f.alloc.Stats(); st.InUse != 0 {
				t.Errorf("after both exited: %+v", st)
			}
		})
	}
}

// TestDupDropsUffd: userfaultfd registrations are not inherited.
func TestDupDropsUffd(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 1, rw, 0)
	uffd := mm.VMUffdMiss | mm.VMUffdWP | mm.VMUffdMinor
	f.withWrite(func() {
		v := f.m.FindVMA(low)
		v.StartWrite()
		v.Flags |= uffd
	})
	c := f.dup()
	if v := c.vma(low); v.Flags&uffd != 0 || v.Flags&mm.VMWrite == 0 {
		t.Errorf("child flags %v", v.Flags)
	}
	if v := f.vma(low); v.Flags&uffd != uffd {
		t.Errorf("the parent lost its registration: %v", v.Flags)
	}
}

// TestExitFreesEverything builds an address space with every kind of
// entry, forks it, and checks that the allocator is empty once every
// user is gone.
func TestExitFreesEverything(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 8, rw, 0)
	f.populate(low, 8)
	wantErrno(t, "Madvise", f.m.Madvise(ns, low+2*pg, pg, mm.AdviceGuardInstall), 0)
	wantErrno(t, "Mprotect", f.m.Mprotect(ns, low+4*pg, pg, none), 0)
	shm := memory.NewShmem(f.alloc, 4*pg)
	if _, err := f.m.Mmap(ns, mm.MapRequest{Addr: low + 16*pg, Length: 4 * pg, Prot: rw, Flags: mm.MapFixedNoReplace | mm.MapShared, Ops: shm}); err != 0 {
		t.Fatal(err)
	}
	f.populate(low+16*pg, 4)
	c := f.dup()
	c.populate(low+16*pg, 4)                               // the same shmem pages
	c.populate(low, 2)                                     // breaks COW: two copies
	if got, want := f.inUse(), int64(7+4+2); got != want { // 8 - guard + shmem + copies
		t.Fatalf("pages in use = %d, want %d", got, want)
	}

	// An extra user keeps the address space alive.
	f.m.Get()
	f.m.Put()
	if f.vmaCount() == 0 {
		t.Fatal("Put of a non-last user tore the address space down")
	}

	f.m.Put()
	if shm.CachedPages() != 4 {
		t.Errorf("shmem pages = %d while the child still maps them", shm.CachedPages())
	}
	c.m.Put()
	st := f.alloc.Stats()
	if st.InUse != 0 || st.Allocs != st.Frees {
		t.Errorf("after exit: %+v, want every page freed", st)
	}
	if shm.CachedPages() != 0 {
		t.Errorf("shmem keeps %d pages", shm.CachedPages())
	}
	if f.alloc.ZeroPage().Refs() != 1 {
		t.Errorf("zero page refs = %d", f.alloc.ZeroPage().Refs())
	}
	var counts = map[*phys.Page]int{}
	f.m.MapCounts(counts)
	if len(counts) != 0 {
		t.Errorf("pages still mapped after exit: %d", len(counts))
	}
	if f.vmaCount() != 0 {
		t.Errorf("%d VMAs after exit", f.vmaCount())
	}
}

// TestMapCounts checks the map counts an address space reports.
func TestMapCounts(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 3, rw, 0)
	f.populate(low, 2)
	if err := memory.Populate(f.m, &faulter{}, low+2*pg, low+3*pg, memory.PopulateRead); err != 0 {
		t.Fatal(err)
	}
	c := f.dup()
	counts := map[*phys.Page]int{}
	f.m.MapCounts(counts)
	c.m.MapCounts(counts)
	if len(counts) != 2 {
		t.Fatalf("%d frames counted, want 2 (the zero page excluded)", len(counts))
	}
	for p, n := range counts {
		if n != 2 || int(p.MapCount()) != n {
			t.Errorf("frame %d: counted %d, map count %d, want 2", p.PFN(), n, p.MapCount())
		}
	}
}

// TestDupDropsLocked: memory locks are not inherited by fork (dup_mmap
// clears VM_LOCKED), so the child may zap and guard its copy. (Regression.)
func TestDupDropsLocked(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 2, rw, mm.MapLocked)
	c := f.dup()
	if v := c.vma(low); v.Flags&mm.VMLocked != 0 {
		t.Fatalf("child flags %v", v.Flags)
	}
	if v := f.vma(low); v.Flags&mm.VMLocked == 0 {
		t.Fatalf("the parent lost its lock: %v", v.Flags)
	}
	wantErrno(t, "child guard_install", c.m.Madvise(sched.NoSleep{}, low, pg, mm.AdviceGuardInstall), 0)
	wantErrno(t, "parent guard_install", f.m.Madvise(sched.NoSleep{}, low, pg, mm.AdviceGuardInstall), abi.EINVAL)
}
