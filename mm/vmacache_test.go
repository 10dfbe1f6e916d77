package mm_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
)

// TestIndexAgainstModel runs random mmap, munmap and mprotect calls, which
// split and merge VMAs, and after each compares every lookup the index
// answers (FindVMA, VMALookup, the lockless LockVMAUnderRCU, and both
// through a task's VMACache) with a scan of the VMAs in order, and checks
// that a snapshot of the VMAs taken before still lists what it did.
func TestIndexAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := setup(t)
			m := f.m
			rng := rand.New(rand.NewPCG(seed, 99))
			const pages = 600
			var cache mm.VMACache
			// prot is the page-by-page model: each page's protection, or
			// -1 where nothing is mapped.
			prot := make([]int, pages+24)
			for i := range prot {
				prot[i] = -1
			}
			for step := 0; step < 800; step++ {
				p := rng.Uint64N(pages)
				a := low + p*pg
				n := 1 + rng.Uint64N(24)
				pr := []mm.Prot{ro, rw, none}[rng.IntN(3)]
				switch rng.IntN(5) {
				case 0, 1:
					_, err := m.Mmap(ns, mm.MapRequest{Addr: a, Length: n * pg, Prot: pr, Flags: mm.MapFixedNoReplace})
					free := true
					for i := p; i < p+n; i++ {
						free = free && prot[i] < 0
					}
					if (err == 0) != free {
						t.Fatalf("step %d: mmap [%#x, +%d pages): %v, the range free: %v", step, a, n, err, free)
					}
					for i := p; free && i < p+n; i++ {
						prot[i] = int(pr)
					}
				case 2:
					wantErrno(t, "munmap", m.Munmap(ns, a, n*pg), 0)
					for i := p; i < p+n; i++ {
						prot[i] = -1
					}
				case 3, 4:
					m.Mprotect(ns, a, n*pg, pr)
					for i := p; i < p+n && prot[i] >= 0; i++ {
						prot[i] = int(pr) // up to the first hole
					}
				}
				f.check()
				for i, want := range prot {
					v := f.vma(low + uint64(i)*pg)
					if (v != nil) != (want >= 0) || v != nil && v.Flags&mm.VMAccessFlags != mm.VMFlags(want) {
						t.Fatalf("step %d: page %d has VMA %v, model prot %d", step, i, v, want)
					}
				}
				spans := f.spans(false)
				find := func(addr uint64) (uint64, uint64, bool) { // the model: a scan
					for _, s := range spans {
						if s.end > addr {
							return s.start, s.end, true
						}
					}
					return 0, 0, false
				}
				m.MmapReadLock(ns, sched.Killable)
				for range 40 {
					addr := low - pg + rng.Uint64N((pages+40)*pg)
					ws, we, wok := find(addr)
					v := m.FindVMA(addr)
					if (v != nil) != wok || v != nil && (v.Start != ws || v.End != we) {
						t.Fatalf("step %d: FindVMA(%#x) = %v, model [%#x,%#x) %v", step, addr, v, ws, we, wok)
					}
					if c := m.FindVMACached(&cache, addr); c != v {
						t.Fatalf("step %d: FindVMACached(%#x) = %v, FindVMA %v", step, addr, c, v)
					}
					in := wok && ws <= addr
					if l := m.VMALookup(addr); (l != nil) != in || in && l != v {
						t.Fatalf("step %d: VMALookup(%#x) = %v", step, addr, l)
					}
				}
				m.MmapReadUnlock()
				for range 40 {
					addr := low - pg + rng.Uint64N((pages+40)*pg)
					ws, _, wok := find(addr)
					in := wok && ws <= addr
					for _, lock := range []func() *mm.VMA{
						func() *mm.VMA { return m.LockVMAUnderRCU(addr) },
						func() *mm.VMA { return m.LockVMAUnderRCUCached(&cache, addr) },
					} {
						v := lock()
						if (v != nil) != in || v != nil && !v.Contains(addr) {
							t.Fatalf("step %d: lockless lookup of %#x = %v, want one: %v", step, addr, v, in)
						}
						if v != nil {
							v.EndRead()
						}
					}
				}
				if r, w, v := m.LockState(); r != 0 || w || v != 0 {
					t.Fatalf("step %d: locks left: %d readers, writer %v, %d VMA readers", step, r, w, v)
				}
			}
		})
	}
}

// TestVMACacheInvalidation checks that a cached VMA is not returned once
// the map changed under it: unmapped, split, or another address space.
func TestVMACacheInvalidation(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 4, rw, 0)
	var c mm.VMACache
	v := f.m.LockVMAUnderRCUCached(&c, low+pg)
	if v == nil {
		t.Fatal("no VMA")
	}
	v.EndRead()
	wantErrno(t, "mprotect", f.m.Mprotect(ns, low+2*pg, pg, ro), 0) // splits v in three
	if w := f.m.LockVMAUnderRCUCached(&c, low+2*pg); w == nil || w == v || !w.Contains(low+2*pg) {
		t.Fatalf("after the split the cache gave %v", w)
	} else {
		w.EndRead()
	}
	wantErrno(t, "munmap", f.m.Munmap(ns, low, 4*pg), 0)
	if w := f.m.LockVMAUnderRCUCached(&c, low+2*pg); w != nil {
		t.Fatalf("after munmap the cache gave %v", w)
	}
	// A hole, cached, then mapped: the cache answers with the new VMA.
	f.mapAt(low+8*pg, 1, rw, 0)
	f.m.MmapReadLock(ns, sched.Killable)
	above := f.m.FindVMACached(&c, low+4*pg)
	hit := f.m.FindVMACached(&c, low+5*pg) // the same hole, from the cache
	f.m.MmapReadUnlock()
	if above == nil || above.Start != low+8*pg || hit != above {
		t.Fatalf("in the hole below %#x: FindVMACached gave %v, then %v", low+8*pg, above, hit)
	}
	if w := f.m.LockVMAUnderRCUCached(&c, low+5*pg); w != nil {
		t.Fatalf("the lockless lookup of a cached hole locked %v", w)
	}
	f.mapAt(low+4*pg, 2, ro, 0)
	f.m.MmapReadLock(ns, sched.Killable)
	w := f.m.FindVMACached(&c, low+5*pg)
	f.m.MmapReadUnlock()
	if w == nil || w == above || !w.Contains(low+5*pg) {
		t.Fatalf("after an mmap into the cached hole FindVMACached gave %v", w)
	}
	g := setup(t)
	g.mapAt(low, 4, rw, 0)
	g.m.MmapReadLock(ns, sched.Killable)
	if w := g.m.FindVMACached(&c, low); w == nil || w.MM() != g.m {
		t.Fatalf("another address space's lookup gave %v", w)
	}
	g.m.MmapReadUnlock()
}

// TestVMALockWaitsForReaders checks the per-VMA lock: a writer waits for
// the readers in, no reader enters while it waits, and LockState counts
// the readers VMA by VMA.
func TestVMALockWaitsForReaders(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 4, rw, 0)
	v1 := f.m.LockVMAUnderRCU(low)
	v2 := f.m.LockVMAUnderRCU(low + pg)
	if v1 == nil || v1 != v2 {
		t.Fatal("no VMA")
	}
	if _, _, n := f.m.LockState(); n != 2 {
		t.Fatalf("LockState counts %d VMA readers, want 2", n)
	}
	done := make(chan struct{})
	go func() {
		wantErrno(t, "mprotect", f.m.Mprotect(ns, low, pg, ro), 0)
		close(done)
	}()
	v1.EndRead()
	select {
	case <-done:
		t.Fatal("mprotect went on while a reader held the VMA")
	default:
	}
	v2.EndRead()
	select {
	case <-done:
	case <-waitTimeout():
		t.Fatal("the writer was not woken by the last reader")
	}
	if _, _, n := f.m.LockState(); n != 0 {
		t.Fatalf("LockState counts %d VMA readers, want 0", n)
	}
}

// TestLocklessLookupsDuringChanges races lockless lookups against
// mprotect splits and merges (run it with -race): every VMA locked
// contains the address, and nothing stays locked.
func TestLocklessLookupsDuringChanges(t *testing.T) {
	f := setup(t)
	f.mapAt(low, 64, rw, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c mm.VMACache
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				addr := low + rng.Uint64N(64)*pg
				v := f.m.LockVMAUnderRCUCached(&c, addr)
				if v == nil {
					v = f.m.LockVMAUnderRCU(addr)
				}
				if v != nil {
					if !v.Contains(addr) {
						t.Errorf("locked %v for %#x", v, addr)
					}
					v.EndRead()
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		a := low + rng.Uint64N(64)*pg
		f.m.Mprotect(ns, a, (1+rng.Uint64N(8))*pg, []mm.Prot{ro, rw}[rng.IntN(2)])
	}
	close(stop)
	wg.Wait()
	f.check()
	if r, w, v := f.m.LockState(); r != 0 || w || v != 0 {
		t.Fatalf("locks left: %d readers, writer %v, %d VMA readers", r, w, v)
	}
}

// TestLookupsDoNotAllocate: the lookups of the fault path allocate nothing.
func TestLookupsDoNotAllocate(t *testing.T) {
	f := setup(t)
	for i := range 100 {
		f.mapAt(low+uint64(i)*2*pg, 1, rw, 0)
	}
	var c mm.VMACache
	addr := low + 20*pg
	for name, fn := range map[string]func(){
		"LockVMAUnderRCU":       func() { f.m.LockVMAUnderRCU(addr).EndRead() },
		"LockVMAUnderRCUCached": func() { f.m.LockVMAUnderRCUCached(&c, addr).EndRead() },
		"FindVMA": func() {
			f.m.MmapReadLock(ns, sched.Killable)
			f.m.FindVMA(addr)
			f.m.FindVMACached(&c, addr)
			f.m.MmapReadUnlock()
		},
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}
