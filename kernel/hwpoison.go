package kernel

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// MadviseHWPoison injects memory errors in the pages of [addr,
// addr+length) (madvise(MADV_HWPOISON), model only): each page is faulted
// in for reading, then memory_failure takes its frame out of use and every
// mapping of it gets a poison entry, so that the next access is
// VM_FAULT_HWPOISON (VM_FAULT_HWPOISON_LARGE for a huge page). Without
// CONFIG_MEMORY_FAILURE the advice does not exist: EINVAL.
func (t *Task) MadviseHWPoison(addr, length uint64) Outcome {
	return t.call(func() Outcome {
		if !t.k.cfg.MemoryFailure {
			return Err(abi.EINVAL)
		}
		end, err := mm.CheckRange(addr, length)
		if err != 0 {
			return Err(err)
		}
		m := t.MM()
		for a := addr; a < end; a += phys.PageSize {
			if err := memory.Populate(m, t, a, a+phys.PageSize, memory.PopulateMap); err != 0 {
				return Err(err)
			}
			page := t.mappedPage(a)
			if page == nil || page.IsZero() {
				return Err(abi.EBUSY) // nothing, or a reserved kernel page
			}
			t.k.memoryFailure(t, page.Head())
		}
		return OK()
	})
}

// mappedPage returns the frame mapped at addr, if any.
func (t *Task) mappedPage(addr uint64) *phys.Page {
	m := t.MM()
	if !m.MmapReadLock(t, sched.Killable) {
		return nil
	}
	defer m.MmapReadUnlock()
	table, i := m.PT.Lookup(addr)
	if table == nil {
		return nil
	}
	pte := table.Load(i)
	if !pte.Mapped() {
		return nil
	}
	if pte.Has(pgtable.Special) {
		return m.Phys().ZeroPage()
	}
	return m.Phys().Lookup(pte.PFN())
}

// liveMMs returns the address spaces of the processes still running.
func (k *Kernel) liveMMs() []*mm.MM {
	k.mu.Lock()
	procs := append([]*Process(nil), k.procs...)
	k.mu.Unlock()
	var out []*mm.MM
	seen := map[*mm.MM]bool{}
	for _, p := range procs {
		if !p.Exited() && !seen[p.mm] {
			seen[p.mm] = true
			out = append(out, p.mm)
		}
	}
	return out
}

// memoryFailure poisons the frame headed by page (memory_failure): every
// entry mapping it, in every address space, becomes a poison entry. Caches
// holding the page keep it, poisoned, and answer faults with poison.
func (k *Kernel) memoryFailure(t *Task, page *phys.Page) {
	if page.Has(phys.FlagHWPoison) {
		return
	}
	page.SetFlags(phys.FlagHWPoison)
	first, last := page.PFN(), page.PFN()+phys.PFN(1)<<page.Order()
	for _, m := range k.liveMMs() {
		if !m.MmapReadLock(t, sched.Killable) {
			return
		}
		m.PT.Range(0, k.arch.TaskSize(), func(_ uint64, table *pgtable.Table, i int) bool {
			pte := table.Load(i)
			if !pte.Mapped() || pte.Has(pgtable.Special) || pte.PFN() < first || pte.PFN() >= last {
				return true
			}
			table.Lock()
			if table.Load(i) != pte {
				table.Unlock()
				return true
			}
			marker := pgtable.MkMarker(pgtable.MarkerPoisoned)
			if table.Level() == 2 {
				marker = memory.HugeMarker(pgtable.MarkerPoisoned)
			}
			table.Store(i, marker)
			table.Unlock()
			page.RemoveMap()
			page.Put()
			return true
		})
		m.MmapReadUnlock()
	}
}
