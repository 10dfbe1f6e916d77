package mm

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// Dup returns a copy of the address space for a fork child (dup_mm):
// every VMA is copied; private memory is shared copy-on-write, both
// parent and child entries write-protected; shared memory is not copied
// entry by entry (the child faults it in from the backing), guard markers
// excepted. userfaultfd registrations
// and memory locks (VM_LOCKED) are not inherited.
func (m *MM) Dup(t sched.Sleeper) (*MM, abi.Errno) {
	if !m.MmapWriteLock(t, sched.Killable) {
		return nil, abi.EINTR
	}
	defer m.MmapWriteUnlock()

	c := New(m.arch, m.cfg, m.phys)
	c.stackLimit.Store(m.stackLimit.Load())
	m.VMAs(func(v *VMA) bool {
		// No fault may run on the parent's VMAs while their entries are copied.
		v.StartWrite()
		nv := &VMA{
			mm: c, Start: v.Start, End: v.End,
			Flags: v.Flags &^ (VMUffdMiss | VMUffdWP | VMUffdMinor | VMLocked),
			PgOff: v.PgOff, Ops: v.Ops, PKey: v.PKey, file: v.file, // Uffd: not inherited
		}
		if v.HasAnonVMA() {
			// anon_vma_fork: the child's VMA gets an anon_vma of its
			// own, linked to the parent's, so its chain is not singular.
			nv.anonVMA.Store(new(AnonVMA))
			nv.anonForked = true
		}
		if fo, ok := nv.Ops.(Forker); ok {
			nv.Ops = fo.ForkOps()
		}
		nv.PageProt = pageProt(m.arch, nv.Flags, nv.PKey, nv.Ops)
		if nv.Ops != nil {
			nv.Ops.Open(nv)
		}
		c.insertLocked(nv)
		m.copyPageRange(c, v)
		return true
	})
	return c, 0
}

// copyPageRange copies v's entries into child (copy_page_range). A VMA
// without an anon_vma, one that never held an anonymous page nor a guard
// marker (whose install prepares one), is not copied at all
// (vma_needs_copy): the child refaults its pages and loses its poison
// markers. One with an anon_vma has every entry copied, shared memory's
// pages too (clean in the child).
func (m *MM) copyPageRange(child *MM, v *VMA) {
	cow := v.IsCOW()
	if !v.HasAnonVMA() && !m.hasGuardMarker(v) {
		return
	}
	m.PT.Range(v.Start, v.End, func(addr uint64, t *pgtable.Table, i int) bool {
		pte := t.Load(i)
		switch {
		case pte.None():
			return true
		case pte.IsMarker():
			if mk := pte.Marker() &^ pgtable.MarkerUffdWP; mk != 0 {
				ct, ci := child.PT.Alloc(addr)
				if t.Level() == 2 {
					ct, ci = child.PT.AllocHuge(addr)
				}
				ct.Lock()
				ct.Store(ci, pgtable.MkMarker(mk))
				ct.Unlock()
			}
			return true
		case pte.IsSwap():
			if dev := m.phys.Swap(); dev != nil {
				dev.Dup(pte.SwapOffset())
			}
			ct, ci := child.PT.Alloc(addr)
			ct.Lock()
			ct.Store(ci, pte&^pgtable.UffdWP) // the child is not registered
			ct.Unlock()
			return true
		case !pte.Mapped():
			return true
		}
		if cow && pte.Has(pgtable.Write) {
			t.Lock()
			pte &^= pgtable.Write
			t.Store(i, pte)
			t.Unlock()
		}
		if !pte.Has(pgtable.Special) {
			if p := m.phys.Lookup(pte.PFN()); p != nil {
				p.Get()
				p.AddMap()
				p.ClearFlags(phys.FlagAnonExclusive) // folio_try_dup_anon_rmap: shared now
			}
		}
		ct, ci := child.PT.Alloc(addr)
		if t.Level() == 2 {
			ct, ci = child.PT.AllocHuge(addr)
		}
		ct.Lock()
		// The child is not registered with userfaultfd: no uffd-wp bits;
		// a shared page is clean in the child (copy_present_pte).
		cpte := pte &^ (pgtable.Accessed | pgtable.UffdWP)
		if v.Shared() {
			cpte &^= pgtable.Dirty
		}
		ct.Store(ci, cpte)
		ct.Unlock()
		return true
	})
}

// hasGuardMarker reports whether v's range holds a guard marker.
func (m *MM) hasGuardMarker(v *VMA) bool {
	found := false
	m.PT.Range(v.Start, v.End, func(_ uint64, t *pgtable.Table, i int) bool {
		pte := t.Load(i)
		found = pte.IsMarker() && pte.Marker()&pgtable.MarkerGuard != 0
		return !found
	})
	return found
}

// exitMmap tears the address space down (exit_mmap): every VMA is
// unmapped and its pages released.
func (m *MM) exitMmap() {
	// The last user is gone; nobody can contend for the lock.
	if !m.mmapLock.TryLock() {
		panic("mm: exit_mmap with the mmap lock held")
	}
	for _, v := range m.vmasIn(0, ^uint64(0)) {
		v.StartWrite()
		m.removeLocked(v)
		m.zapLocked(v, v.Start, v.End, true)
		if v.Ops != nil {
			v.Ops.Close(v)
		}
	}
	m.MmapWriteUnlock()
}
