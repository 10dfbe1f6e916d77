package memory

import (
	"fmt"
	"sync"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/vmfault"
)

// userfaultfd features and registration modes (include/uapi/linux/userfaultfd.h).
const (
	// UffdFeatureSigbus: faults on registered ranges raise SIGBUS instead
	// of waiting (UFFD_FEATURE_SIGBUS).
	UffdFeatureSigbus uint64 = 1 << 7

	UffdMissing = 1 << 0 // UFFDIO_REGISTER_MODE_MISSING
	UffdWP      = 1 << 1 // UFFDIO_REGISTER_MODE_WP
	UffdMinor   = 1 << 2 // UFFDIO_REGISTER_MODE_MINOR
)

// UffdMsg is a page-fault message read from a userfaultfd.
type UffdMsg struct {
	Addr             uint64
	Write, WP, Minor bool
}

// uffdWait is one faulting task waiting in handle_userfault.
type uffdWait struct {
	msg   UffdMsg
	start uint64 // the range a resolution must cover to wake it
	end   uint64
	wake  *sched.Event
}

// Userfaultfd is a userfaultfd context (struct userfaultfd_ctx): the faults
// of its registered ranges are reported to whoever reads it, and wait until
// a resolution (COPY, ZEROPAGE, CONTINUE, WRITEPROTECT off, WAKE) wakes them.
type Userfaultfd struct {
	name     string
	features uint64

	mu       sync.Mutex   // guards everything below
	pending  []*uffdWait  // messages not yet read (fault_pending_wqh)
	waiting  []*uffdWait  // messages read, faults not yet woken (fault_wqh)
	readable *sched.Event // fires when a message is queued
	released bool
}

// NewUserfaultfd returns a context with the given features.
func NewUserfaultfd(name string, features uint64) *Userfaultfd {
	return &Userfaultfd{name: name, features: features}
}

// UserfaultName implements mm.UserfaultCtx.
func (u *Userfaultfd) UserfaultName() string { return u.name }

// ctxOf returns the context v is registered with, or nil.
func ctxOf(v *mm.VMA) *Userfaultfd {
	u, _ := v.Uffd.(*Userfaultfd)
	return u
}

// handleUserfault reports a fault to the VMA's userfaultfd and waits for
// its resolution (handle_userfault). The fault lock is released; the
// result is always VM_FAULT_RETRY, except where the feature or the flags
// say SIGBUS. The wait is interruptible (FAULT_FLAG_INTERRUPTIBLE): a
// signal ends it and the fault is retried or abandoned by the caller's
// rules, leaving no message queued.
func handleUserfault(f *Fault, reason mm.VMFlags) vmfault.Reason {
	u := ctxOf(f.VMA)
	switch {
	case u == nil:
		f.tr.Step("handle_userfault", "no userfaultfd context: VM_FAULT_SIGBUS")
		return vmfault.SigBus
	case u.features&UffdFeatureSigbus != 0:
		f.tr.Step("handle_userfault", "UFFD_FEATURE_SIGBUS: VM_FAULT_SIGBUS")
		return vmfault.SigBus
	case f.Flags&vmfault.FlagAllowRetry == 0:
		f.tr.Step("handle_userfault", "the fault may not retry: VM_FAULT_SIGBUS")
		return vmfault.SigBus
	case f.Flags&vmfault.FlagRetryNowait != 0:
		f.tr.Step("handle_userfault", "FAULT_FLAG_RETRY_NOWAIT: VM_FAULT_RETRY, the lock kept")
		return vmfault.Retry // the lock is kept
	}
	size := f.VMA.MM().PageSize()
	if f.VMA.Flags&mm.VMHugetlb != 0 {
		size = f.VMA.MM().HugePageSize()
	}
	addr := f.RealAddress &^ (size - 1)
	w := &uffdWait{
		msg:   UffdMsg{Addr: addr, Write: f.write(), WP: reason == mm.VMUffdWP, Minor: reason == mm.VMUffdMinor},
		start: addr, end: addr + size, wake: sched.NewEvent(),
	}
	u.mu.Lock()
	if u.released {
		u.mu.Unlock()
		f.tr.Step("handle_userfault", "the context is being released: VM_FAULT_NOPAGE, refault")
		return vmfault.NoPage // the range is being unregistered: refault
	}
	u.pending = append(u.pending, w)
	if u.readable != nil {
		u.readable.Fire()
		u.readable = nil
	}
	u.mu.Unlock()

	f.releaseLock()
	mode := f.Flags.SleepMode()
	if mode == sched.Interruptible && f.Flags&vmfault.FlagUser == 0 && f.Task.SignalPending() {
		// A kernel-mode fault with only a non-fatal signal pending: the
		// interruptible sleep would end at once, and the fault would be
		// retried, and end again, until resolved — the kernel busy-loops
		// here. The model sleeps killably instead: the same outcome, no
		// spinning (and one message rather than thousands).
		mode = sched.Killable
	}
	if f.tr.On() {
		f.tr.Step("handle_userfault", fmt.Sprintf("queue a %s message for %#x, drop the %s, wait %s for UFFDIO_COPY or a wake",
			uffdKind(reason), addr, f.lockName(), mode))
	}
	f.Task.Sleep(w.wake, mode)
	u.forget(w)
	return vmfault.Retry
}

// forget removes w from the queues: woken or interrupted, its message is
// no longer of interest.
func (u *Userfaultfd) forget(w *uffdWait) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending = removeWait(u.pending, w)
	u.waiting = removeWait(u.waiting, w)
}

func removeWait(list []*uffdWait, w *uffdWait) []*uffdWait {
	for i, x := range list {
		if x == w {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// Read returns the next message, waiting for one (read(2) on the
// userfaultfd, blocking). It fails with EINTR when a signal ends the wait.
func (u *Userfaultfd) Read(t sched.Sleeper) (UffdMsg, abi.Errno) {
	for {
		u.mu.Lock()
		if len(u.pending) > 0 {
			w := u.pending[0]
			u.pending = u.pending[1:]
			u.waiting = append(u.waiting, w)
			u.mu.Unlock()
			return w.msg, 0
		}
		if u.readable == nil {
			u.readable = sched.NewEvent()
		}
		ev := u.readable
		u.mu.Unlock()
		if !t.Sleep(ev, sched.Interruptible) {
			return UffdMsg{}, abi.EINTR
		}
	}
}

// Wake wakes the faults waiting on [start, end) (UFFDIO_WAKE, and what
// every resolution does).
func (u *Userfaultfd) Wake(start, end uint64) {
	u.mu.Lock()
	var woken []*uffdWait
	keep := func(list []*uffdWait) []*uffdWait {
		out := list[:0:0]
		for _, w := range list {
			if w.start < end && start < w.end {
				woken = append(woken, w)
			} else {
				out = append(out, w)
			}
		}
		return out
	}
	u.pending = keep(u.pending)
	u.waiting = keep(u.waiting)
	u.mu.Unlock()
	for _, w := range woken {
		w.wake.Fire()
	}
}

// Release ends the context (the last file reference closed, or its
// process exited): every waiting fault is woken and will find the range
// unregistered.
func (u *Userfaultfd) Release() {
	u.mu.Lock()
	u.released = true
	u.mu.Unlock()
	u.Wake(0, ^uint64(0))
}

// uffdVMAAllows reports whether v may be registered for modes
// (vma_can_userfault): missing and write-protect on anonymous, shmem and
// hugetlb memory; minor on shmem and hugetlb only.
func uffdVMAAllows(v *mm.VMA, modes int) bool {
	_, shmem := v.Ops.(*Shmem)
	hugetlb := v.Flags&mm.VMHugetlb != 0
	if modes&UffdMinor != 0 && !shmem && !hugetlb {
		return false
	}
	return v.Anonymous() || shmem || hugetlb
}

func uffdFlags(modes int) mm.VMFlags {
	var f mm.VMFlags
	if modes&UffdMissing != 0 {
		f |= mm.VMUffdMiss
	}
	if modes&UffdWP != 0 {
		f |= mm.VMUffdWP
	}
	if modes&UffdMinor != 0 {
		f |= mm.VMUffdMinor
	}
	return f
}

const uffdAll = mm.VMUffdMiss | mm.VMUffdWP | mm.VMUffdMinor

// validateRange checks the range of a userfaultfd ioctl and returns its
// end (validate_range): start and length page aligned, the length not
// zero, the range between mmap_min_addr and the task size. Unlike
// madvise's, nothing is rounded: a partial page is EINVAL.
func validateRange(m *mm.MM, start, length uint64) (uint64, abi.Errno) {
	pageMask := m.PageSize() - 1
	size := m.Arch().TaskSize()
	switch {
	case start&pageMask != 0, length&pageMask != 0, length == 0:
		return 0, abi.EINVAL
	case start < m.Config().MmapMinAddr, start >= size, length > size-start:
		return 0, abi.EINVAL
	}
	return start + length, 0
}

// Register registers [start, start+length) of m with u for modes
// (UFFDIO_REGISTER): EINVAL for a bad range, no VMA in it, or a VMA that
// cannot take the modes; EBUSY for a VMA registered with another context.
// A VMA already registered with u for at least modes is left as it is;
// any other gets exactly modes.
func (u *Userfaultfd) Register(t sched.Sleeper, m *mm.MM, start, length uint64, modes int) abi.Errno {
	if modes&^(UffdMissing|UffdWP|UffdMinor) != 0 || modes == 0 {
		return abi.EINVAL
	}
	end, err := validateRange(m, start, length)
	if err != 0 {
		return err
	}
	if !m.MmapWriteLock(t, sched.Killable) {
		return abi.EINTR
	}
	defer m.MmapWriteUnlock()
	found := false
	var bad abi.Errno
	m.VMAs(func(v *mm.VMA) bool {
		if v.End <= start || v.Start >= end {
			return v.Start < end
		}
		found = true
		switch {
		case !uffdVMAAllows(v, modes):
			bad = abi.EINVAL
		case v.Uffd != nil && v.Uffd != mm.UserfaultCtx(u):
			bad = abi.EBUSY
		}
		return bad == 0
	})
	if !found {
		return abi.EINVAL
	}
	if bad != 0 {
		return bad
	}
	flags := uffdFlags(modes)
	return m.UpdateRangeLocked(start, end, func(v *mm.VMA) {
		if v.Uffd == mm.UserfaultCtx(u) && v.Flags&flags == flags {
			return // already registered in these modes (and maybe more)
		}
		v.Flags = v.Flags&^uffdAll | flags
		v.Uffd = u
	})
}

// Unregister ends the registration of [start, start+length)
// (userfaultfd_unregister). Every VMA of the range must be able to take
// userfaultfd and be registered with u or with nothing (any context,
// before uffdUnregisterOwnSince), else EINVAL and nothing changes; holes
// are skipped. The faults waiting on what was
// registered for missing pages are woken, and resolve without
// userfaultfd; write-protect waiters stay asleep.
func (u *Userfaultfd) Unregister(t sched.Sleeper, m *mm.MM, start, length uint64) abi.Errno {
	end, err := validateRange(m, start, length)
	if err != 0 {
		return err
	}
	if !m.MmapWriteLock(t, sched.Killable) {
		return abi.EINTR
	}
	found := false
	ownOnly := m.Config().Version.Compare(uffdUnregisterOwnSince) >= 0
	m.VMAs(func(v *mm.VMA) bool {
		if v.End <= start || v.Start >= end {
			return v.Start < end
		}
		found = true
		if !uffdVMAAllows(v, 0) || ownOnly && v.Uffd != nil && v.Uffd != mm.UserfaultCtx(u) {
			err = abi.EINVAL
		}
		return err == 0
	})
	if !found {
		err = abi.EINVAL
	}
	type span struct {
		ctx        *Userfaultfd // the context the VMA was registered with
		start, end uint64
	}
	var wake []span
	if err == 0 {
		err = m.UpdateRangeLocked(start, end, func(v *mm.VMA) {
			if v.Uffd == nil {
				return
			}
			if c := ctxOf(v); c != nil && v.Flags&mm.VMUffdMiss != 0 { // userfaultfd_missing
				wake = append(wake, span{c, v.Start, v.End})
			}
			if v.Flags&mm.VMUffdWP != 0 { // userfaultfd_clear_vma: the protection goes
				uffdWPRange(v, v.Start, v.End, false)
			}
			v.Flags &^= uffdAll
			v.Uffd = nil
		})
	}
	m.MmapWriteUnlock()
	if err != 0 {
		return abi.EINVAL
	}
	for _, w := range wake {
		w.ctx.Wake(w.start, w.end)
	}
	return 0
}

// uffdUnregisterOwnSince is the first kernel (estimated) whose
// UFFDIO_UNREGISTER refuses a VMA registered with another context
// (EINVAL): Tal Zussman's "userfaultfd: prevent unregistering VMAs
// through a different userfaultfd" (v1 3 June 2025, then in mm-unstable
// with "mm: use per_vma lock for MADV_DONTNEED"). Before it any context
// unregisters any VMA, waking the waiters of the VMA's own context. Read:
// 6.12's userfaultfd_unregister has no such check; observed: arm64 6.1 and
// 6.12, riscv64 6.12 unregister through the other context, the 6.18 host
// and 7.2 guests answer EINVAL. Placed at 6.17, the merge window after the
// patch; no pull request naming it was found (6.16-6.18 possible).
var uffdUnregisterOwnSince = config.Version{Major: 6, Minor: 17}

// WakeRange wakes the faults waiting on [start, start+length)
// (userfaultfd_wake): EINVAL for a range validate_range refuses.
func (u *Userfaultfd) WakeRange(m *mm.MM, start, length uint64) abi.Errno {
	end, err := validateRange(m, start, length)
	if err != 0 {
		return err
	}
	u.Wake(start, end)
	return 0
}

// FillMode is how a userfaultfd ioctl fills a missing page.
type FillMode int

// Fill modes.
const (
	FillCopy     FillMode = iota // UFFDIO_COPY: a new page of one byte value
	FillZeropage                 // UFFDIO_ZEROPAGE: the zero page
	FillContinue                 // UFFDIO_CONTINUE: the page already in the cache (minor faults)
	FillPoison                   // UFFDIO_POISON: a poison marker
)

// Fill resolves [start, start+length) page by page (mfill_atomic), then
// wakes the faults of u waiting on what it filled. The range must lie in
// one VMA registered with some userfaultfd, not necessarily u (ENOENT
// otherwise, before anything else about the memory is looked at). It
// returns the bytes filled; an error stops it: EEXIST for a page already
// present (or cached, for shmem copies), EINVAL for a mode the memory does
// not take, EFAULT for CONTINUE of a page not in the cache. When some
// pages were filled before the error, the ioctl fails with EAGAIN, the
// count reported beside it.
func (u *Userfaultfd) Fill(t Faulter, m *mm.MM, start, length uint64, mode FillMode, fill byte) (uint64, abi.Errno) {
	end, err := validateRange(m, start, length)
	if err != 0 {
		return 0, err
	}
	if !m.MmapReadLock(t, sched.Killable) {
		return 0, abi.EINTR
	}
	var done uint64
	v := m.VMALookup(start)
	_, isShmem := vmaShmem(v)
	switch {
	case v == nil || end > v.End || v.Uffd == nil: // find_dst_vma
		err = abi.ENOENT
	case v.Flags&mm.VMHugetlb != 0:
		if !v.Shared() {
			v.PrepareAnon()
		}
		done, err = hugetlbFill(t, v, start, end, mode, fill)
	case !v.Anonymous() && !isShmem, mode == FillContinue && !isShmem:
		err = abi.EINVAL
	default:
		if !v.Shared() {
			v.PrepareAnon() // mfill_atomic: anon_vma_prepare
		}
		for addr := start; addr < end; addr += m.PageSize() {
			if err = fillPage(t, v, addr, mode, fill); err != 0 {
				break
			}
			done += m.PageSize()
		}
	}
	m.MmapReadUnlock()
	if done > 0 {
		u.Wake(start, start+done)
		if err != 0 {
			err = abi.EAGAIN // part done: "ret = range.len == len ? 0 : -EAGAIN"
		}
	}
	return done, err
}

// vmaShmem returns v's shmem object, if it maps one (vma_is_shmem).
func vmaShmem(v *mm.VMA) (*Shmem, bool) {
	if v == nil {
		return nil, false
	}
	s, ok := v.Ops.(*Shmem)
	return s, ok
}

// uffdMarkerOnlySince is the first kernel (estimated) whose fills
// install only over an empty entry or a userfaultfd marker (uffd-wp,
// poison), not a guard marker: Lorenzo Stoakes's "mm: correctly handle
// UFFD PTE markers" (patch 1 of "mm: remove is_swap_[pte, pmd]() +
// non-swap confusion", v3 10 November 2025, then in mm-unstable) removed
// pte_none_mostly and huge_pte_none_mostly. Observed: on arm64 and riscv64
// 7.2 UFFDIO_COPY over a guard marker is EEXIST and the guard stays, on
// the 6.18 host it replaces it. Placed at 6.19, the first merge window
// after the series (6.19-7.2 possible; not read in a tree).
var uffdMarkerOnlySince = config.Version{Major: 6, Minor: 19}

// noneMostly reports whether a fill may install over pte at kernel
// version ver (pte_none_mostly): an empty entry or any marker, uffd-wp,
// poison or guard, which the new page replaces; from uffdMarkerOnlySince
// a guard marker stays (EEXIST).
func noneMostly(ver config.Version, pte pgtable.PTE) bool {
	if pte.None() {
		return true
	}
	if !pte.IsMarker() {
		return false
	}
	return pte.Marker()&pgtable.MarkerGuard == 0 || ver.Compare(uffdMarkerOnlySince) < 0
}

// isUffdWPMarker reports whether pte is a uffd-wp marker and nothing else
// (pte_marker_uffd_wp), of a PTE or a huge slot.
func isUffdWPMarker(pte pgtable.PTE) bool {
	const kinds = pgtable.MarkerUffdWP | pgtable.MarkerPoisoned | pgtable.MarkerGuard
	return pte.IsMarker() && pte.Marker()&kinds == pgtable.MarkerUffdWP
}

// fillPage fills one page of v at addr (mfill_atomic_pte). Copies and
// continues, and shmem's zero pages, go over an empty entry or any marker
// (mfill_atomic_install_pte); an anonymous zero page and poison need an
// empty entry.
func fillPage(t Faulter, v *mm.VMA, addr uint64, mode FillMode, fill byte) abi.Errno {
	m := v.MM()
	table, i := m.PT.Alloc(addr)
	shm, isShmem := vmaShmem(v)
	ver := m.Config().Version
	ok := func(pte pgtable.PTE) bool { return noneMostly(ver, pte) }
	if mode == FillPoison || mode == FillZeropage && !isShmem {
		ok = pgtable.PTE.None
	}
	old := table.Load(i)
	if !ok(old) {
		return abi.EEXIST
	}
	var page *phys.Page
	var pte pgtable.PTE
	switch {
	case mode == FillPoison:
		pte = pgtable.MkMarker(pgtable.MarkerPoisoned)
	case mode == FillZeropage && !isShmem: // mfill_atomic_pte_zeropage
		zero := m.Phys().ZeroPage()
		pte = pgtable.MkPTE(zero.PFN(), v.PageProt&^pgtable.Write) | pgtable.Special
	case mode == FillContinue: // mfill_atomic_pte_continue
		if page = shm.CachedPage(v.PageOffset(addr), t); page == nil {
			return abi.EFAULT
		}
		pte = pgtable.MkPTE(page.PFN(), v.PageProt)
	case isShmem: // shmem_mfill_atomic_pte: a new page in the cache, zeroed for ZEROPAGE
		if mode == FillZeropage {
			fill = 0
		}
		var err error
		if page, err = shm.insert(v.PageOffset(addr), fill, t); err != nil {
			if err == errNoMemory {
				return abi.ENOMEM
			}
			return abi.EEXIST
		}
		pte = pgtable.MkPTE(page.PFN(), v.PageProt)
	default: // mfill_atomic_pte_copy
		if page = allocPage(t, m.Phys(), phys.FlagAnon); page == nil {
			return abi.ENOMEM
		}
		page.Fill(fill)
		pte = pgtable.MkPTE(page.PFN(), v.PageProt) | pgtable.Dirty
		if v.Flags&mm.VMWrite != 0 {
			pte |= pgtable.Write
		}
	}
	if pte.Present() {
		pte |= m.NewPTEBits() // mfill_atomic_install_pte's mk_pte, young where the arch's is
	}
	table.Lock()
	if table.Load(i) != old {
		table.Unlock()
		if page != nil {
			page.Put()
		}
		return abi.EEXIST
	}
	table.Store(i, pte)
	if page != nil {
		page.AddMap()
	}
	table.Unlock()
	return 0
}

// WriteProtect sets or clears userfaultfd write protection on
// [start, start+length) (mwriteprotect_range); clearing it wakes u's
// faults waiting there. Holes are skipped; ENOENT when no VMA is in the
// range or one is not registered for write-protect faults (with any
// context), EINVAL for a hugetlb range not made of whole huge pages.
func (u *Userfaultfd) WriteProtect(t sched.Sleeper, m *mm.MM, start, length uint64, on bool) abi.Errno {
	end, err := validateRange(m, start, length)
	if err != 0 {
		return err
	}
	if !m.MmapReadLock(t, sched.Killable) {
		return abi.EINTR
	}
	err = abi.ENOENT // no VMA at all
	m.WalkRangeLocked(start, end, func(v *mm.VMA, s, e uint64) abi.Errno {
		if v.Flags&mm.VMUffdWP == 0 { // userfaultfd_wp
			err = abi.ENOENT
			return err
		}
		if v.Flags&mm.VMHugetlb != 0 && (start|length)&(v.MM().HugePageSize()-1) != 0 {
			err = abi.EINVAL
			return err
		}
		uffdWPRange(v, s, e, on)
		err = 0
		return 0
	})
	m.MmapReadUnlock()
	if err == 0 && !on {
		u.Wake(start, end)
	}
	return err
}

// uffdWPRange write-protects [s, e) of v, or lifts the protection
// (uffd_wp_range, change_protection with MM_CP_UFFD_WP or _RESOLVE):
// present entries get or lose the uffd-wp bit. Memory that is not
// anonymous keeps the protection of pages it does not map in uffd-wp
// markers (userfaultfd_wp_use_markers): protecting puts one in each empty
// entry, unprotecting removes them. Other markers are left alone.
// Preconditions: the mmap lock is held.
func uffdWPRange(v *mm.VMA, s, e uint64, on bool) {
	pt := v.MM().PT
	markers := !v.Anonymous()
	huge := v.Flags&mm.VMHugetlb != 0
	step := v.MM().PageSize()
	if huge {
		step = v.MM().HugePageSize()
	}
	for addr := s; addr < e; addr += step {
		var table *pgtable.Table
		var i int
		switch {
		case on && markers && huge:
			table, i = pt.AllocHuge(addr)
		case on && markers:
			table, i = pt.Alloc(addr)
		default:
			table, i = pt.Lookup(addr)
		}
		if table == nil {
			continue
		}
		table.Lock()
		pte := table.Load(i)
		switch {
		case pte.Mapped() && on:
			table.Store(i, (pte|pgtable.UffdWP)&^pgtable.Write)
		case pte.Mapped():
			// MM_CP_TRY_CHANGE_WRITABLE: an exclusive anonymous page of a
			// writable private VMA is writable again at once.
			pte &^= pgtable.UffdWP
			if !huge && v.Flags&mm.VMWrite != 0 && !v.Shared() && !pte.Has(pgtable.Special) {
				if p := v.MM().Phys().Lookup(pte.PFN()); p != nil && p.Has(phys.FlagAnon|phys.FlagAnonExclusive) {
					pte |= pgtable.Write
				}
			}
			table.Store(i, pte)
		case pte.None() && on && markers:
			mk := pgtable.MkMarker(pgtable.MarkerUffdWP)
			if huge {
				mk = HugeMarker(pgtable.MarkerUffdWP)
			}
			table.Store(i, mk)
		case isUffdWPMarker(pte) && !on:
			table.Store(i, 0)
		}
		table.Unlock()
	}
}

// uffdKind names a userfaultfd registration mode for the trace.
func uffdKind(reason mm.VMFlags) string {
	switch reason {
	case mm.VMUffdWP:
		return "write-protect"
	case mm.VMUffdMinor:
		return "minor"
	}
	return "missing"
}
