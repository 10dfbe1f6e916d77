package kernel

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// MadviseHWPoison injects memory errors in the pages of [addr,
// addr+length) (madvise_inject_error, model only): each page is looked up
// as get_user_pages_fast without FOLL_WRITE does, faulting it in for
// reading, so a page shared copy-on-write after fork stays shared and is
// poisoned for every process; then memory_failure takes its frame out of
// use, and the walk steps by the size of the compound page it found, so a
// huge page is injected once. The zero page is refused (EBUSY). Without
// CONFIG_MEMORY_FAILURE the advice does not exist: EINVAL.
//
// Since Linux 6.11 the injection passes MF_ACTION_REQUIRED: when the page
// was dirty once unmapped (a written anonymous page, a dirty page-cache
// page), hwpoison_user_mappings kills the processes mapping it, and for
// the caller's own mm that is the caller itself, which gets SIGBUS
// BUS_MCEERR_AR at the page's address with the page's shift (kill_proc,
// force_sig_mceerr) on its way back from the call, before any access.
// Other processes get nothing (they have not asked for early kill).
// Before 6.11 nobody is signalled at injection.
func (t *Task) MadviseHWPoison(addr, length uint64) Outcome {
	return t.call(func() Outcome {
		if !t.k.cfg.MemoryFailure {
			return Err(abi.EINVAL)
		}
		m := t.MM()
		end, err := m.CheckRange(addr, length)
		if err != 0 {
			return Err(err)
		}
		actionRequired := t.k.cfg.Version.AtLeast(mfActionRequiredSince.Major, mfActionRequiredSince.Minor)
		for a := addr; a < end; {
			if err := memory.Populate(m, t, a, a+m.PageSize(), memory.PopulateRead); err != 0 {
				if err == abi.EHWPOISON {
					// get_user_pages_fast without FOLL_HWPOISON:
					// a page already poisoned is EFAULT.
					err = abi.EFAULT
				}
				return Err(err)
			}
			page := t.mappedPage(a)
			if page == nil || page.IsZero() {
				return Err(abi.EBUSY) // nothing, or a reserved kernel page
			}
			head := page.Head()
			if t.k.memoryFailure(t, head) && actionRequired {
				t.ForceSigFault(SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR,
					Addr: a & m.PageMask(), LSB: uint8(m.PageShift() + uint(head.Order()))})
			}
			a += m.PageSize() << head.Order() // page_size(compound_head(page))
		}
		return OK()
	})
}

// mfActionRequiredSince is the first kernel whose MADV_HWPOISON passes
// MF_ACTION_REQUIRED to memory_failure ("mm/madvise: add
// MF_ACTION_REQUIRED to madvise(MADV_HWPOISON)", merged for 6.11).
var mfActionRequiredSince = config.Version{Major: 6, Minor: 11}

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
// entry mapping it, in every address space, becomes a poison entry, so
// that the next access is VM_FAULT_HWPOISON (VM_FAULT_HWPOISON_LARGE for
// a huge page). A clean page-cache page is dropped instead: its entries
// are cleared and the cache lets it go, and the next access reads the
// file again ("corrupted page was clean: dropped without side effects",
// hwpoison_user_mappings). Caches holding a dirty page keep it, poisoned,
// and answer faults with poison. It reports whether the page was dirty
// once unmapped (the dirty bits of its entries passed to the folio, as
// try_to_unmap does): whether hwpoison_user_mappings kills.
func (k *Kernel) memoryFailure(t *Task, page *phys.Page) bool {
	if page.Has(phys.FlagHWPoison) {
		return false
	}
	page.SetFlags(phys.FlagHWPoison)
	drop := page.Flags()&(phys.FlagAnon|phys.FlagShmem|phys.FlagDirty) == 0 && page.Order() == 0 && k.dropFromCache(page)
	dirty := page.Has(phys.FlagDirty)
	first, last := page.PFN(), page.PFN()+phys.PFN(1)<<page.Order()
	for _, m := range k.liveMMs() {
		if !m.MmapReadLock(t, sched.Killable) {
			return dirty
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
			dirty = dirty || pte.Has(pgtable.Dirty)
			var entry pgtable.PTE // dropped: the entry refaults from the file
			switch {
			case drop:
			case table.Level() == 2:
				entry = memory.HugeMarker(pgtable.MarkerPoisoned)
			default:
				entry = pgtable.MkMarker(pgtable.MarkerPoisoned)
			}
			table.Store(i, entry)
			table.Unlock()
			page.RemoveMap()
			page.Put()
			return true
		})
		m.MmapReadUnlock()
	}
	return dirty
}

// dropFromCache takes a clean page out of the page cache of the file
// holding it, if one does, and reports whether one did.
func (k *Kernel) dropFromCache(page *phys.Page) bool {
	k.mu.Lock()
	files := make([]*memory.File, 0, len(k.files))
	for _, f := range k.files {
		files = append(files, f)
	}
	k.mu.Unlock()
	for _, f := range files {
		if f.DropClean(page) {
			return true
		}
	}
	return false
}
