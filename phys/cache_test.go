package phys_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/faultline/faultline/phys"
)

// TestPageSize: a page's bookkeeping is 32 bytes, so that with its PTE
// and its share of a PTE table it stays under 48.
func TestPageSize(t *testing.T) {
	if got := unsafe.Sizeof(phys.Page{}); got != 32 {
		t.Fatalf("a Page is %d bytes, want 32", got)
	}
}

// TestCacheAccounting runs random sequences of allocations and frees
// through several caches and the zone, frees of a frame often through
// another path than the one that handed it out, and checks after each
// step that the allocator's counters are exactly those of the sequence:
// frames a cache holds are free, not in use. Closing the caches gives
// every frame back. The peak is within a fold (cacheBatch) per cache of
// the true one.
func TestCacheAccounting(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		a := phys.NewAllocator()
		caches := []*phys.Cache{a.NewCache(), a.NewCache(), a.NewCache()}
		var live []*phys.Page
		var want phys.Stats
		for step := 0; step < 600; step++ {
			switch op := r.IntN(10); {
			case op < 6 || len(live) == 0:
				var p *phys.Page
				var err error
				if c := r.IntN(len(caches) + 1); c < len(caches) {
					p, err = caches[c].Alloc(phys.FlagAnon)
				} else {
					p, err = a.Alloc(phys.FlagAnon)
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.Refs() != 1 || p.MapCount() != 0 || p.Flags() != phys.FlagAnon || p.MemCG() != nil {
					t.Fatalf("seed %d step %d: a fresh frame has refs %d, map count %d, flags %#x, memcg %p",
						seed, step, p.Refs(), p.MapCount(), p.Flags(), p.MemCG())
				}
				if p.Data()[0] != 0 {
					t.Fatalf("seed %d step %d: a fresh frame is not zeroed", seed, step)
				}
				p.Data()[0] = 0xaa
				live = append(live, p)
				want.Allocs++
				want.InUse++
				want.Peak = max(want.Peak, want.InUse)
			default:
				i := r.IntN(len(live))
				live[i].Put()
				live = append(live[:i], live[i+1:]...)
				want.Frees++
				want.InUse--
			}
			got := a.Stats()
			if got.InUse != want.InUse || got.Allocs != want.Allocs || got.Frees != want.Frees || got.Peak < got.InUse {
				t.Fatalf("seed %d step %d: Stats() = %+v, want %+v", seed, step, got, want)
			}
			// Each cache folds its count in every cacheBatch (32) frames.
			if slack := int64(32 * len(caches)); got.Peak <= want.Peak-slack || got.Peak >= want.Peak+slack {
				t.Fatalf("seed %d step %d: peak %d, want within %d of %d", seed, step, got.Peak, slack, want.Peak)
			}
			if r.IntN(100) == 0 {
				c := r.IntN(len(caches))
				caches[c].Close()
				caches[c] = a.NewCache()
			}
		}
		for _, p := range live {
			p.Put()
		}
		for _, c := range caches {
			c.Close()
		}
		if st := a.Stats(); st.InUse != 0 || st.Allocs != st.Frees {
			t.Fatalf("seed %d: after freeing everything, Stats() = %+v", seed, st)
		}
	}
}

// TestCacheReusesFrames: a cache hands back the frames it was given
// back, so that a steady state of faults does not grow the machine, and
// a closed cache's frames are the zone's again.
func TestCacheReusesFrames(t *testing.T) {
	a := phys.NewAllocator()
	c := a.NewCache()
	seen := map[phys.PFN]bool{}
	for round := 0; round < 10; round++ {
		var ps []*phys.Page
		for i := 0; i < 100; i++ {
			p, err := c.Alloc(0)
			if err != nil {
				t.Fatal(err)
			}
			seen[p.PFN()] = true
			ps = append(ps, p)
		}
		for _, p := range ps {
			p.Put()
		}
	}
	if len(seen) > 100+32 {
		t.Fatalf("10 rounds of 100 frames used %d distinct frames", len(seen))
	}
	// Frames a cache took from the zone but never handed out were never
	// seen: a batch at most.
	top := phys.PFN(0)
	for pfn := range seen {
		top = max(top, pfn)
	}
	c.Close()
	d := a.NewCache()
	for i := 0; i < 100; i++ {
		p, err := d.Alloc(0)
		if err != nil {
			t.Fatal(err)
		}
		if p.PFN() > top+32 {
			t.Fatalf("frame %d is new: the closed cache's frames were not given back", p.PFN())
		}
	}
}

// TestCacheLimitExact: with a limit set, allocation through a cache sees
// the exact count in use across caches, as the zone path does.
func TestCacheLimitExact(t *testing.T) {
	a := phys.NewAllocator()
	c1, c2 := a.NewCache(), a.NewCache()
	var ps []*phys.Page
	for i := 0; i < 5; i++ {
		p, err := c1.Alloc(0)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	ps[0].Put() // back into c1: free, not in use
	a.SetLimit(6)
	for i := 0; i < 2; i++ {
		if _, err := c2.Alloc(0); err != nil {
			t.Fatalf("allocation %d of 2 under the limit failed: %v", i+1, err)
		}
	}
	if _, err := c1.Alloc(0); err != phys.ErrNoMemory {
		t.Fatalf("an allocation past the limit got %v, want ErrNoMemory", err)
	}
	if st := a.Stats(); st.InUse != 6 || st.Peak != 6 {
		t.Fatalf("Stats() = %+v, want 6 in use, peak 6", st)
	}
	a.SetLimit(0)
	if _, err := c1.Alloc(0); err != nil {
		t.Fatalf("with the limit lifted: %v", err)
	}
}

// TestCacheConcurrent allocates and frees through a cache per goroutine,
// frees half the frames through another goroutine's path, and sets and
// lifts a limit meanwhile: the books balance (run with -race).
func TestCacheConcurrent(t *testing.T) {
	const workers, rounds = 4, 400
	a := phys.NewAllocator()
	handoff := make(chan *phys.Page, workers*rounds)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := a.NewCache()
			defer c.Close()
			for i := 0; i < rounds; i++ {
				p, err := c.Alloc(phys.FlagAnon)
				if err != nil {
					t.Error(err)
					return
				}
				p.Data()[1] = byte(i)
				if i%2 == 0 {
					handoff <- p
				} else {
					p.Put()
				}
				select {
				case q := <-handoff:
					q.Put()
				default:
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			a.SetLimit(1 << 20)
			a.Stats()
			a.SetLimit(0)
		}
	}()
	wg.Wait()
	close(handoff)
	for p := range handoff {
		p.Put()
	}
	if st := a.Stats(); st.InUse != 0 || st.Allocs != workers*rounds || st.Frees != workers*rounds {
		t.Fatalf("Stats() = %+v, want 0 in use and %d allocs and frees", st, workers*rounds)
	}
}

// TestCacheAllocNoGoAlloc: a steady state of allocations and frees
// through a cache allocates no Go memory.
func TestCacheAllocNoGoAlloc(t *testing.T) {
	a := phys.NewAllocator()
	c := a.NewCache()
	var ps [64]*phys.Page
	cycle := func() {
		for i := range ps {
			ps[i], _ = c.Alloc(phys.FlagAnon)
		}
		for _, p := range ps {
			p.Put()
		}
	}
	cycle()
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Fatalf("%v Go allocations per 64 frames", n)
	}
}

// TestMemCGConcurrentLimit charges and uncharges from several goroutines
// while another lowers and raises the limit: while a limit of 16 is in
// effect, no more than 16 charges that succeeded are held (a charge and a
// new limit that race always see each other), and everything charged is
// uncharged in the end.
func TestMemCGConcurrentLimit(t *testing.T) {
	const workers, rounds = 4, 3000
	cg := &phys.MemCG{}
	if !cg.SetLimit(64) {
		t.Fatal("SetLimit(64) failed on an empty group")
	}
	var held atomic.Int64 // charges that succeeded and are not yet uncharged
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := 0
			for i := 0; i < rounds; i++ {
				if cg.TryCharge(1) {
					held.Add(1)
					mine++
				}
				if mine > 8 || i%3 == 0 {
					for ; mine > 0; mine-- {
						held.Add(-1)
						phys.Uncharge(cg, 1)
					}
				}
			}
			for ; mine > 0; mine-- {
				held.Add(-1)
				phys.Uncharge(cg, 1)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if cg.SetLimit(16) {
				if n := held.Load(); n > 16 {
					t.Errorf("%d charges held under a limit of 16", n)
				}
			}
			cg.SetLimit(64)
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	if usage, _ := cg.Usage(); usage != 0 {
		t.Fatalf("usage %d after every charge was uncharged", usage)
	}
}
