package phys

import (
	"math"
	"sync/atomic"
)

// MemCG is a memory cgroup's page counter (memory.max and
// memory.current). A page is charged to the group of the task it was
// allocated for and uncharged when it is freed; moving a task to another
// group does not move what it already has.
//
// The counter takes no lock (struct page_counter): a charge adds to the
// usage and backs off when that went over the limit, and setting the
// limit swaps it and then checks the usage, so that of a charge and a new
// limit racing, one always sees the other: memory.max is never exceeded.
type MemCG struct {
	usage atomic.Int64
	// max is the limit in pages plus one: 0, the zero value, is no limit.
	max atomic.Int64

	// alloc and id: the allocator whose pages are charged here, and the
	// group's index in its table (what a page keeps); set once, on the
	// first charge of a page.
	alloc atomic.Pointer[Allocator]
	id    atomic.Uint32

	// Reclaim, set by the kernel that owns the group, tries to free n
	// pages charged to it (try_to_free_mem_cgroup_pages) and reports how
	// many it freed.
	Reclaim func(n int64) int64
	// OOM, set likewise, runs the memory cgroup OOM killer
	// (mem_cgroup_out_of_memory) and reports whether it killed a task.
	OOM func() bool
}

// limit returns the limit; a group that never had one reads as unlimited.
func (cg *MemCG) limit() int64 {
	if m := cg.max.Load(); m != 0 {
		return m - 1
	}
	return math.MaxInt64
}

// SetLimit sets the limit in pages, unless more than that is charged
// already (page_counter_set_max): then it reports false and the limit
// stays.
func (cg *MemCG) SetLimit(pages int64) bool {
	for {
		usage := cg.usage.Load()
		if usage > pages {
			return false
		}
		old := cg.max.Swap(pages + 1)
		// A charge that raced with the swap either saw the new limit or
		// shows in the usage now.
		if cg.usage.Load() <= usage || old != 0 && pages+1 >= old {
			return true
		}
		cg.max.Store(old)
	}
}

// Usage returns the pages charged, and the limit (0: none set).
func (cg *MemCG) Usage() (usage, limit int64) {
	if m := cg.max.Load(); m != 0 {
		return cg.usage.Load(), m - 1
	}
	return cg.usage.Load(), 0
}

// TryCharge charges n pages if the limit allows (page_counter_try_charge).
func (cg *MemCG) TryCharge(n int64) bool {
	if cg.usage.Add(n) > cg.limit() {
		cg.usage.Add(-n)
		return false
	}
	return true
}

// ForceCharge charges n pages over the limit: a dying task's last
// allocations go through so that it can exit and free everything.
func (cg *MemCG) ForceCharge(n int64) { cg.usage.Add(n) }

func (cg *MemCG) uncharge(n int64) { cg.usage.Add(-n) }

// index returns cg's index in a's table of groups, registering it there
// on its first use.
func (a *Allocator) memcgIndex(cg *MemCG) uint32 {
	if cg.alloc.Load() == a {
		return cg.id.Load()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch cg.alloc.Load() {
	case a:
		return cg.id.Load()
	case nil:
	default:
		panic("phys: a memory cgroup charged for two allocators")
	}
	tab := *a.memcgTab.Load()
	if len(tab) > memcgMask {
		panic("phys: too many memory cgroups")
	}
	id := uint32(len(tab))
	tab = append(tab[:len(tab):len(tab)], cg)
	a.memcgTab.Store(&tab)
	cg.id.Store(id)
	cg.alloc.Store(a)
	return id
}

// SetMemCG records that p is charged to cg; freeing p uncharges it.
func (p *Page) SetMemCG(cg *MemCG) {
	var id uint32
	if cg != nil {
		id = p.allocator().memcgIndex(cg)
	}
	for {
		old := atomic.LoadUint32(&p.owner)
		if atomic.CompareAndSwapUint32(&p.owner, old, old&^memcgMask|id) {
			return
		}
	}
}

// CommitCharge records that p, a page just allocated that only the
// caller can see yet, is charged to cg (commit_charge: a plain store, no
// locked instruction). Preconditions: p is not yet mapped, cached or
// shared, and has no group.
func (p *Page) CommitCharge(cg *MemCG) {
	p.owner |= p.allocator().memcgIndex(cg)
}

// MemCG returns the group p is charged to, or nil.
func (p *Page) MemCG() *MemCG {
	id := atomic.LoadUint32(&p.owner) & memcgMask
	if id == 0 {
		return nil
	}
	return (*p.allocator().memcgTab.Load())[id]
}
