package phys

import "sync"

// MemCG is a memory cgroup's page counter (memory.max and
// memory.current). A page is charged to the group of the task it was
// allocated for and uncharged when it is freed; moving a task to another
// group does not move what it already has.
type MemCG struct {
	mu      sync.Mutex // guards limit and usage
	limited bool       // a limit was set; until then there is none
	limit   int64      // pages
	usage   int64

	// Reclaim, set by the kernel that owns the group, tries to free n
	// pages charged to it (try_to_free_mem_cgroup_pages) and reports how
	// many it freed.
	Reclaim func(n int64) int64
	// OOM, set likewise, runs the memory cgroup OOM killer
	// (mem_cgroup_out_of_memory) and reports whether it killed a task.
	OOM func() bool
}

// SetLimit sets the limit in pages, unless more than that is charged
// already (page_counter_set_max): then it reports false and the limit
// stays.
func (cg *MemCG) SetLimit(pages int64) bool {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.usage > pages {
		return false
	}
	cg.limited, cg.limit = true, pages
	return true
}

// Usage returns the pages charged, and the limit.
func (cg *MemCG) Usage() (usage, limit int64) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.usage, cg.limit
}

// TryCharge charges n pages if the limit allows (page_counter_try_charge).
func (cg *MemCG) TryCharge(n int64) bool {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.limited && cg.usage+n > cg.limit {
		return false
	}
	cg.usage += n
	return true
}

// ForceCharge charges n pages over the limit: a dying task's last
// allocations go through so that it can exit and free everything.
func (cg *MemCG) ForceCharge(n int64) {
	cg.mu.Lock()
	cg.usage += n
	cg.mu.Unlock()
}

func (cg *MemCG) uncharge(n int64) {
	cg.mu.Lock()
	cg.usage -= n
	cg.mu.Unlock()
}

// SetMemCG records that p is charged to cg; freeing p uncharges it.
func (p *Page) SetMemCG(cg *MemCG) { p.memcg.Store(cg) }

// MemCG returns the group p is charged to, or nil.
func (p *Page) MemCG() *MemCG { return p.memcg.Load() }
