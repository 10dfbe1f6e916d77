package mm

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/sched"
)

// Advice is an madvise advice the address space handles itself. The
// populate advices fault pages in, which is the resolver's job
// (package memory).
type Advice int

// Advices.
const (
	AdviceDontneed     Advice = iota // MADV_DONTNEED
	AdviceGuardInstall               // MADV_GUARD_INSTALL
	AdviceGuardRemove                // MADV_GUARD_REMOVE
	AdviceRandom                     // MADV_RANDOM
)

// CheckRange validates an madvise-style range and returns its page-aligned
// end. A zero length is valid and empty.
func (m *MM) CheckRange(addr, length uint64) (uint64, abi.Errno) {
	if addr&^m.pageMask() != 0 {
		return 0, abi.EINVAL
	}
	length, ok := m.pageAlign(length)
	end := addr + length
	if !ok || end < addr {
		return 0, abi.EINVAL
	}
	return end, 0
}

// WalkRangeLocked calls fn for each VMA intersecting [start, end) with the
// intersection, in order (madvise_walk_vmas). It returns the first error
// fn returns, else ENOMEM if part of the range is unmapped, else 0; the
// VMAs after a hole are still visited.
// Preconditions: the mmap lock is held; fn may not change the VMA index.
func (m *MM) WalkRangeLocked(start, end uint64, fn func(v *VMA, s, e uint64) abi.Errno) abi.Errno {
	var unmapped abi.Errno
	pos := start
	for _, v := range m.vmasIn(start, end) {
		if v.Start > pos {
			unmapped = abi.ENOMEM
		}
		s, e := max(pos, v.Start), min(end, v.End)
		if err := fn(v, s, e); err != 0 {
			return err
		}
		pos = e
	}
	if pos < end {
		unmapped = abi.ENOMEM
	}
	return unmapped
}

// Madvise applies advice to [addr, addr+length) (do_madvise).
func (m *MM) Madvise(t sched.Sleeper, addr, length uint64, advice Advice) abi.Errno {
	end, err := m.CheckRange(addr, length)
	if err != 0 || end == addr {
		return err
	}
	switch advice {
	case AdviceRandom:
		// Changing vm_flags may split VMAs: the write lock.
		if !m.MmapWriteLock(t, sched.Killable) {
			return abi.EINTR
		}
		defer m.MmapWriteUnlock()
		if m.hugeSplitBad(addr, end) {
			return abi.EINVAL
		}
		return m.setFlagsLocked(addr, end, VMRandRead)
	default:
		if !m.MmapReadLock(t, sched.Killable) {
			return abi.EINTR
		}
		defer m.MmapReadUnlock()
	}
	return m.WalkRangeLocked(addr, end, func(v *VMA, s, e uint64) abi.Errno {
		switch advice {
		case AdviceDontneed:
			return m.dontneed(v, s, e)
		case AdviceGuardInstall:
			return m.guardInstall(v, s, e)
		case AdviceGuardRemove:
			return m.guardRemove(v, s, e)
		}
		return abi.EINVAL
	})
}

// setFlagsLocked sets flag on every VMA in [start, end), splitting at the
// edges and merging afterwards (madvise_update_vma).
// Preconditions: write lock.
func (m *MM) setFlagsLocked(start, end uint64, flag VMFlags) abi.Errno {
	var err abi.Errno
	pos := start
	for pos < end {
		v := m.FindVMA(pos)
		if v == nil || v.Start >= end {
			return abi.ENOMEM
		}
		if v.Start > pos {
			err = abi.ENOMEM
			pos = v.Start
		}
		stop := min(end, v.End)
		if v.Flags&flag == 0 {
			v, e := m.changeRangeLocked(v, pos, stop, true, func(v *VMA) { v.Flags |= flag })
			if e != 0 {
				return e // vm.max_map_count (madvise_update_vma)
			}
			m.mergeAroundLocked(v)
		}
		pos = stop
	}
	return err
}

// UpdateRangeLocked applies set to the VMAs of [start, end), split so that
// only the range changes, then merges what became compatible (as the
// userfaultfd register and unregister ioctls do). It returns ENOMEM when
// no VMA intersects the range or a split would pass vm.max_map_count
// (set may have side effects, so a split at the limit is refused even
// where Linux would move a boundary instead), EINVAL when a hugetlb VMA
// would be split off a huge-page boundary; holes are skipped.
// Preconditions: the mmap lock is held for writing.
func (m *MM) UpdateRangeLocked(start, end uint64, set func(*VMA)) abi.Errno {
	if m.hugeSplitBad(start, end) {
		return abi.EINVAL
	}
	found := false
	pos := start
	for pos < end {
		v := m.FindVMA(pos)
		if v == nil || v.Start >= end {
			break
		}
		found = true
		s := max(pos, v.Start)
		stop := min(end, v.End)
		v, err := m.changeRangeLocked(v, s, stop, false, set)
		if err != 0 {
			return err
		}
		m.mergeAroundLocked(v)
		pos = stop
	}
	if !found {
		return abi.ENOMEM
	}
	return 0
}

// dontneed drops the pages of [s, e) of v (madvise_dontneed_single_vma);
// markers stay. The next access faults in fresh memory (or the shmem page
// again).
func (m *MM) dontneed(v *VMA, s, e uint64) abi.Errno {
	if v.Flags&VMHugetlb != 0 {
		// Whole huge pages (madvise_dontneed_free_valid_vma): the start
		// must be aligned; the end is rounded down, so that a caller
		// unaware of huge pages loses no data it did not name, and
		// what is left may be empty.
		if s&(m.HugePageSize()-1) != 0 {
			return abi.EINVAL
		}
		e &^= m.HugePageSize() - 1
		if e <= s {
			return 0
		}
	} else if v.Flags&VMLocked != 0 {
		return abi.EINVAL
	}
	m.zapLocked(v, s, e, false)
	return 0
}

// guardInstall replaces the entries of [s, e) by guard markers
// (madvise_guard_install): whatever was mapped is thrown away, and any
// access faults with VM_FAULT_SIGSEGV.
func (m *MM) guardInstall(v *VMA, s, e uint64) abi.Errno {
	if v.Flags&(VMLocked|VMHugetlb) != 0 {
		return abi.EINVAL
	}
	// anon_vma_prepare: fork must copy the markers, so the VMA's entries
	// are copied from now on, whatever happens to the guards.
	v.PrepareAnon()
	for a := s; a < e; a += m.pageSize {
		t, i := m.PT.Alloc(a)
		t.Lock()
		old := t.Load(i)
		// The range is zapped first, which drops poison markers
		// (zap_nonpresent_ptes); a uffd-wp marker stays with the guard.
		t.Store(i, pgtable.MkMarker(pgtable.MarkerGuard|old.Marker()&pgtable.MarkerUffdWP))
		t.Unlock()
		switch {
		case old.Mapped():
			m.releaseMapped(old)
		case old.IsSwap():
			m.freeSwap(old)
		}
	}
	return 0
}

// guardRemove clears the guard markers of [s, e) (madvise_guard_remove).
func (m *MM) guardRemove(v *VMA, s, e uint64) abi.Errno {
	if v.Flags&VMHugetlb != 0 {
		return abi.EINVAL
	}
	m.PT.Range(s, e, func(_ uint64, t *pgtable.Table, i int) bool {
		if !t.Load(i).IsMarker() {
			return true
		}
		t.Lock()
		if old := t.Load(i); old.IsMarker() && old.Marker()&pgtable.MarkerGuard != 0 {
			if rest := old.Marker() &^ pgtable.MarkerGuard; rest != 0 {
				t.Store(i, pgtable.MkMarker(rest))
			} else {
				t.Store(i, 0)
			}
		}
		t.Unlock()
		return true
	})
	return 0
}
