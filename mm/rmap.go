package mm

import (
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// backingEntry finds v's page-table entry for backing page pgoff, if v
// maps that offset with a base page. Preconditions: the mmap lock.
func (v *VMA) backingEntry(pgoff uint64) (*pgtable.Table, int, bool) {
	if v.Detached() || pgoff < v.PgOff {
		return nil, 0, false
	}
	off := (pgoff - v.PgOff) << v.mm.pageShift
	if off >= v.End-v.Start {
		return nil, 0, false
	}
	t, i := v.mm.PT.Lookup(v.Start + off)
	if t == nil || t.Level() != 1 {
		return nil, 0, false
	}
	return t, i, true
}

// mapsPage reports whether pte maps frame p.
func mapsPage(pte pgtable.PTE, p *phys.Page) bool {
	return pte.Mapped() && !pte.Has(pgtable.Special) && pte.PFN() == p.PFN()
}

// Unmap is what TryUnmapPage did with one mapping.
type Unmap int

// TryUnmapPage results.
const (
	NotMapped Unmap = iota // the VMA does not map the page
	Unmapped               // the mapping is gone
	Busy                   // the VMA's mm was busy: the page stays mapped for now
	Mlocked                // the VMA is mlocked: the page is unevictable there
)

// TryUnmapPage removes v's mapping of page p, the backing page at page
// offset pgoff, as reclaim does through the file's i_mmap (try_to_unmap
// for one VMA). A dirty entry passes its dirty bit to the page, which must
// then be written back before it can go; a uffd-wp protected entry leaves
// a uffd-wp marker (pte_install_uffd_wp_if_needed); an mlocked VMA keeps
// its page. It never sleeps: with v's mmap lock contended the page stays
// mapped, where the kernel's rmap walk needs no mmap lock at all; the
// model takes it to keep v's bounds stable.
func TryUnmapPage(v *VMA, pgoff uint64, p *phys.Page) Unmap {
	m := v.mm
	if !m.MmapReadTryLock() {
		return Busy
	}
	defer m.MmapReadUnlock()
	t, i, ok := v.backingEntry(pgoff)
	if !ok {
		return NotMapped
	}
	t.Lock()
	pte := t.Load(i)
	if !mapsPage(pte, p) {
		t.Unlock()
		return NotMapped
	}
	if v.Flags&VMLocked != 0 {
		t.Unlock()
		return Mlocked
	}
	if pte.Has(pgtable.UffdWP) {
		t.Store(i, pgtable.MkMarker(pgtable.MarkerUffdWP))
	} else {
		t.Store(i, 0)
	}
	t.Unlock()
	if pte.Has(pgtable.Dirty) {
		p.SetFlags(phys.FlagDirty)
	}
	p.RemoveMap()
	p.Put()
	return Unmapped
}

// MkcleanPage write-protects and cleans v's mapping of page p, the backing
// page at pgoff, before the page is written back (page_mkclean_one), so
// that the next write through it faults and dirties the page again. It
// takes v's mmap lock for reading on t's behalf and reports whether the
// entry was dirty: the page's contents are then newer than it says.
func MkcleanPage(t sched.Sleeper, v *VMA, pgoff uint64, p *phys.Page) bool {
	m := v.mm
	if !m.MmapReadLock(t, sched.Killable) {
		return false // the task is dying; the page keeps its state
	}
	defer m.MmapReadUnlock()
	tbl, i, ok := v.backingEntry(pgoff)
	if !ok {
		return false
	}
	tbl.Lock()
	defer tbl.Unlock()
	pte := tbl.Load(i)
	if !mapsPage(pte, p) || !pte.Present() {
		return false
	}
	tbl.Store(i, pte&^(pgtable.Write|pgtable.Dirty))
	return pte.Has(pgtable.Dirty)
}
