package memory

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/vmfault"
)

// PopulateMode says how Populate treats the range.
type PopulateMode int

// Populate modes.
const (
	// PopulateRead and PopulateWrite are MADV_POPULATE_READ/WRITE: every
	// VMA must allow the access (else EINVAL), a hole is ENOMEM, and the
	// first failing fault ends the call (faultin_page_range).
	PopulateRead PopulateMode = iota
	PopulateWrite
	// PopulateMap is MAP_POPULATE and MAP_LOCKED (mm_populate): writable
	// private memory is faulted for write to break COW, everything else
	// accessible for read; inaccessible VMAs and failures are skipped.
	PopulateMap
)

// populateRetrySince is the first kernel whose MADV_POPULATE_(READ|WRITE)
// retries a fault that dropped the lock with FOLL_TRIED, so that the
// retried fault of a page that had to be read counts as major: David
// Hildenbrand's "mm/madvise: make MADV_POPULATE_(READ|WRITE) handle
// VM_FAULT_RETRY properly" (631426ba1d45, March 2024) moved it from
// faultin_vma_page_range and __get_user_pages to faultin_page_range and
// __get_user_pages_locked. Read: 6.1's mm/madvise.c loops per VMA
// without FOLL_TRIED, 6.12's calls faultin_page_range; the mailing-list
// archives show it as an mm hotfix queued for the stable kernels in April
// 2024 and not in the 6.10 MM pull, so 6.9 (not backported to 6.1.y);
// observed: arm64 6.1 counts the retried fault of an evicted file page as
// minor, 6.12 as major.
var populateRetrySince = config.Version{Major: 6, Minor: 9}

// populateNoWalkSince is the first kernel whose MADV_POPULATE_* stops at
// the first hole with ENOMEM: "mm/madvise: don't perform madvise VMA walk
// for MADV_POPULATE_(READ|WRITE)" (the same series) dropped the madvise VMA
// walk, which skips a hole, populates the VMAs after it and answers ENOMEM
// at the end (madvise_walk_vmas). Read: listed in "[GIT PULL] MM updates
// for 6.10-rc1"; 6.12's madvise_populate takes the mm, 6.1's a VMA.
var populateNoWalkSince = config.Version{Major: 6, Minor: 10}

// Populate faults in [start, end) of m on t's behalf, as GUP does without
// pinning: a page already accessible is left alone, anything else goes
// through HandleMMFault, retrying after the lock was dropped.
func Populate(m *mm.MM, t Faulter, start, end uint64, mode PopulateMode) abi.Errno {
	if !m.MmapReadLock(t, sched.Killable) {
		return abi.EINTR
	}
	// Before populateNoWalkSince, MADV_POPULATE_* walked the VMAs as every
	// madvise does (madvise_walk_vmas): a hole is skipped and the call
	// answers ENOMEM at the end, after populating what is mapped.
	ver := m.Config().Version
	retried := ver.Compare(populateRetrySince) >= 0
	walks := ver.Compare(populateNoWalkSince) < 0
	hole := abi.Errno(0)
	addr := start
	tried := vmfault.Flags(0)
	attempts := 0 // faults taken at addr; bounded, as every wait in the model is
	for addr < end {
		if t.FatalSignalPending() {
			m.MmapReadUnlock()
			return abi.EINTR // __get_user_pages gives up for a dying task
		}
		v := m.FindVMA(addr)
		if v == nil || v.Start > addr {
			if mode == PopulateMap || walks {
				if mode != PopulateMap {
					hole = abi.ENOMEM
				}
				if v == nil || v.Start >= end {
					break
				}
				addr = v.Start
				continue
			}
			m.MmapReadUnlock()
			return abi.ENOMEM
		}
		write, ok := populateAccess(v, mode)
		if !ok {
			if mode == PopulateMap {
				addr = v.End
				continue
			}
			m.MmapReadUnlock()
			return abi.EINVAL
		}
		if pageAllows(m, addr, write) {
			addr += m.PageSize()
			tried, attempts = 0, 0
			continue
		}
		if attempts++; attempts > maxPopulateAttempts {
			m.MmapReadUnlock()
			return abi.EFAULT
		}
		flags := vmfault.FlagAllowRetry | vmfault.FlagKillable | tried
		if write {
			flags |= vmfault.FlagWrite
		}
		ret := HandleMMFault(v, addr, flags, t)
		if ret&(vmfault.Retry|vmfault.Completed) != 0 {
			// The resolver dropped the lock: take it again and look again.
			// MADV_POPULATE_* retries with FOLL_TRIED (__get_user_pages_locked),
			// so its fault counts as major; mm_populate, and MADV_POPULATE_*
			// before populateRetrySince, start over without it and find the
			// page cached: a minor fault.
			if ret&vmfault.Retry != 0 && mode != PopulateMap && retried {
				tried = vmfault.FlagTried
			}
			if !m.MmapReadLock(t, sched.Killable) {
				return abi.EINTR
			}
			continue
		}
		if ret&vmfault.Error != 0 {
			if mode == PopulateMap {
				addr = v.End // give up on this VMA, as __mm_populate does
				tried, attempts = 0, 0
				continue
			}
			m.MmapReadUnlock()
			return populateErrno(ret)
		}
		// Resolved: check the page again, the fault may have been a
		// read-only step of a write (the zero page first).
	}
	m.MmapReadUnlock()
	return hole
}

const (
	// maxPopulateAttempts bounds the faults taken for one page: a read
	// fault on fresh memory then a write to break COW is two.
	maxPopulateAttempts = 64
)

// populateAccess picks the access for v (check_vma_flags and
// populate_vma_page_range) and reports whether the VMA allows it.
func populateAccess(v *mm.VMA, mode PopulateMode) (write, ok bool) {
	switch mode {
	case PopulateWrite:
		return true, v.Flags&mm.VMWrite != 0
	case PopulateRead:
		return false, v.Flags&mm.VMRead != 0
	}
	if !v.Accessible() {
		return false, false
	}
	return v.Flags&(mm.VMWrite|mm.VMShared) == mm.VMWrite, true
}

// pageAllows reports whether the entry at addr already allows the access
// (follow_page_pte succeeding).
func pageAllows(m *mm.MM, addr uint64, write bool) bool {
	t, i := m.PT.Lookup(addr)
	if t == nil {
		return false
	}
	pte := t.Load(i)
	return pte.Present() && (!write || pte.Has(pgtable.Write))
}

// populateErrno maps a failed fault to the errno madvise(MADV_POPULATE_*)
// returns.
func populateErrno(ret vmfault.Reason) abi.Errno {
	switch {
	case ret&vmfault.OOM != 0:
		return abi.ENOMEM
	case ret&(vmfault.HWPoison|vmfault.HWPoisonLarge) != 0:
		return abi.EHWPOISON
	}
	return abi.EFAULT // SIGBUS, SIGSEGV
}
