package memory

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

// lruTask is a task of memory cgroup cg that never sleeps.
type lruTask struct {
	sched.NoSleep
	cg *phys.MemCG
}

func (*lruTask) AccountFault(bool)        {}
func (*lruTask) SignalPending() bool      { return false }
func (*lruTask) FatalSignalPending() bool { return false }
func (*lruTask) PageCache() *phys.Cache   { return nil }
func (t *lruTask) MemCG() *phys.MemCG     { return t.cg }
func (*lruTask) Tracer() *trace.Track     { return nil }

// oldestByScan is what oldest returns, found the slow way: every cached
// page not mlocked, in stamp order, that reclaim may take.
func oldestByScan(f *File, cg *phys.MemCG, dirty bool, k int) []Reclaimable {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*cachePage
	f.cache.each(0, func(_ uint64, c *cachePage) bool {
		all = append(all, c)
		return true
	})
	sort.Slice(all, func(i, j int) bool { return all[i].used < all[j].used })
	var out []Reclaimable
	for _, c := range all {
		if len(out) < k && f.reclaimableLocked(c, cg) && c.page.Has(phys.FlagDirty) == dirty {
			out = append(out, Reclaimable{File: f, Index: c.idx, Used: c.used})
		}
	}
	return out
}

// checkLists checks that the two lists hold the cache's pages, each
// once, the mlocked ones apart, in stamp order, with their counts of
// pages that may be clean, and that every clean page is counted.
func checkLists(t *testing.T, f *File) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := 0
	for _, l := range []*lruList{&f.lru, &f.unevictable} {
		clean := 0
		var prev, cprev *cachePage
		for c := l.head; c != nil; c = c.next {
			seen++
			if f.cache.get(c.idx) != c || c.prev != prev || c.mlocked != (l == &f.unevictable) {
				t.Fatalf("page %d is misplaced", c.idx)
			}
			if prev != nil && prev.used >= c.used {
				t.Fatalf("page %d (stamp %d) follows stamp %d", c.idx, c.used, prev.used)
			}
			if !c.page.Has(phys.FlagDirty) && !c.mayBeClean {
				t.Fatalf("page %d is clean but not counted", c.idx)
			}
			if c.mayBeClean {
				// The clean sublist links the same pages, in order.
				if c.cprev != cprev || (cprev == nil) != (l.cleanHead == c) || cprev != nil && cprev.cnext != c {
					t.Fatalf("page %d is misplaced on the clean sublist", c.idx)
				}
				clean++
				cprev = c
			} else if c.cprev != nil || c.cnext != nil || l.cleanHead == c {
				t.Fatalf("dirty page %d is on the clean sublist", c.idx)
			}
			prev = c
		}
		if l.tail != prev || l.clean != clean || l.cleanTail != cprev || cprev != nil && cprev.cnext != nil {
			t.Fatalf("list tail or clean count (%d, want %d) wrong", l.clean, clean)
		}
	}
	if seen != f.cache.len() {
		t.Fatalf("%d pages on the lists, %d cached", seen, f.cache.len())
	}
}

// TestOldestMatchesScan: under random adds, reads, uses, dirtying,
// writebacks, reclaims, mlocks, closes and truncations of a file shared
// by two memory cgroups, oldest gives exactly what a scan of the whole
// cache in stamp order gives.
func TestOldestMatchesScan(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		alloc := phys.NewAllocator()
		const pages = 64
		f := NewFile("f", pages*(1<<phys.DefaultPageShift), 0x33, alloc, NewDisk(config.Version{Major: 6, Minor: 18}), 4)
		f.Evict(sched.NoSleep{})
		cgs := []*phys.MemCG{{}, {}}
		for _, cg := range cgs {
			cg.Reclaim = func(int64) int64 { return 0 }
		}
		pick := func() *cachePage {
			f.mu.Lock()
			defer f.mu.Unlock()
			idxs := make([]uint64, 0, f.cache.len())
			f.cache.each(0, func(idx uint64, _ *cachePage) bool {
				idxs = append(idxs, idx)
				return true
			})
			if len(idxs) == 0 {
				return nil
			}
			slices.Sort(idxs)
			return f.cache.get(idxs[rng.IntN(len(idxs))])
		}
		for step := range 600 {
			task := &lruTask{cg: cgs[rng.IntN(2)]}
			idx := rng.Uint64N(pages)
			switch op := rng.IntN(10); op {
			case 0:
				f.WritePages(task, idx, min(idx+1+rng.Uint64N(4), pages))
			case 1:
				f.readPages(task, idx, 1+rng.Uint64N(4), idx, idx)
				f.disk.Run()
			case 2:
				if p := f.CachedPage(idx, task); p != nil {
					p.Put()
				}
			case 3:
				if c := pick(); c != nil && c.uptodate {
					c.page.SetFlags(phys.FlagDirty)
				}
			case 4:
				if c := pick(); c != nil && c.uptodate {
					f.mu.Lock()
					f.writeback(c)
					f.mu.Unlock()
				}
			case 5:
				if c := pick(); c != nil {
					f.Reclaim(task.cg, c.idx, rng.IntN(2) == 0)
				}
			case 6:
				if c := pick(); c != nil {
					f.mu.Lock()
					f.unevictableLocked(c)
					f.mu.Unlock()
				}
			case 7:
				f.mu.Lock()
				f.evictableAgainLocked()
				f.mu.Unlock()
			case 8:
				if rng.IntN(8) == 0 {
					f.Truncate(sched.NoSleep{}, rng.Uint64N(pages+1)*(1<<phys.DefaultPageShift))
					f.Truncate(sched.NoSleep{}, pages*(1<<phys.DefaultPageShift))
				}
			case 9:
				ReclaimFiles([]*File{f}, task.cg, 1+rng.Int64N(4))
			}
			checkLists(t, f)
			for _, cg := range cgs {
				for _, dirty := range []bool{false, true} {
					for _, k := range []int{1, 3, 1000} {
						got, want := f.oldest(cg, dirty, k), oldestByScan(f, cg, dirty, k)
						if !slices.Equal(got, want) {
							t.Fatalf("seed %d step %d: oldest(dirty=%v, %d) = %v, want %v", seed, step, dirty, k, got, want)
						}
					}
				}
			}
		}
		f.Release()
	}
}
