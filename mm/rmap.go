package mm

import (
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// TryUnmapPage removes v's mapping of page p, the backing page at page
// offset pgoff, as reclaim does through the file's i_mmap (try_to_unmap
// for one VMA). Only a clean mapping goes: a dirty PTE means the page must
// be written back first. A uffd-wp protected entry leaves a uffd-wp marker
// (pte_install_uffd_wp_if_needed). It never sleeps: with v's mmap lock
// contended the page stays mapped, where the kernel's rmap walk needs no
// mmap lock at all; the model takes it to keep v's bounds stable. It
// reports whether it removed a mapping.
func TryUnmapPage(v *VMA, pgoff uint64, p *phys.Page) bool {
	m := v.mm
	if !m.MmapReadTryLock() {
		return false
	}
	defer m.MmapReadUnlock()
	if v.Detached() || pgoff < v.PgOff {
		return false
	}
	off := (pgoff - v.PgOff) << pageShift
	if off >= v.End-v.Start {
		return false
	}
	t, i := m.PT.Lookup(v.Start + off)
	if t == nil || t.Level() != 1 {
		return false
	}
	t.Lock()
	pte := t.Load(i)
	if !pte.Mapped() || pte.Has(pgtable.Special) || pte.PFN() != p.PFN() || pte.Has(pgtable.Dirty) {
		t.Unlock()
		return false
	}
	if pte.Has(pgtable.UffdWP) {
		t.Store(i, pgtable.MkMarker(pgtable.MarkerUffdWP))
	} else {
		t.Store(i, 0)
	}
	t.Unlock()
	p.RemoveMap()
	p.Put()
	return true
}
