package mm

import (
	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"sync/atomic"
)

// Prot is an mmap/mprotect protection (PROT_*).
type Prot uint8

// PROT_* bits.
const (
	ProtNone  Prot = 0
	ProtRead  Prot = 1
	ProtWrite Prot = 2
	ProtExec  Prot = 4
)

func (p Prot) String() string {
	s := ""
	if p&ProtRead != 0 {
		s += "r"
	}
	if p&ProtWrite != 0 {
		s += "w"
	}
	if p&ProtExec != 0 {
		s += "x"
	}
	if s == "" {
		return "none"
	}
	return s
}

func (p Prot) vmFlags() VMFlags {
	var f VMFlags
	if p&ProtRead != 0 {
		f |= VMRead
	}
	if p&ProtWrite != 0 {
		f |= VMWrite
	}
	if p&ProtExec != 0 {
		f |= VMExec
	}
	return f
}

// MapFlags are mmap flags (MAP_*), as the address space sees them.
type MapFlags uint32

// MAP_* flags.
const (
	MapShared         MapFlags = 1 << 0
	MapFixedNoReplace MapFlags = 1 << 1
	MapGrowsDown      MapFlags = 1 << 2
	MapLocked         MapFlags = 1 << 3
	MapNoReserve      MapFlags = 1 << 4
	MapHugetlb        MapFlags = 1 << 5
)

// MmapPreparer is a VMOperations that must accept a new mapping before it
// is made, once every address check has passed (the f_op->mmap hook:
// hugetlbfs_file_mmap reserves the pages there). An error fails the mmap.
type MmapPreparer interface {
	PrepareMmap(v *VMA) abi.Errno
}

// ZapNotifier is a VMOperations that hears of each mapped entry of its
// VMAs being zapped (munmap, MADV_DONTNEED, exit), before the page's
// reference goes: hugetlb gives a private page's reservation back there
// (__unmap_hugepage_range).
type ZapNotifier interface {
	ZapPage(v *VMA, addr uint64, pte pgtable.PTE)
}

// MapRequest describes one mapping to create.
type MapRequest struct {
	Addr   uint64 // with MapFixedNoReplace: the exact address
	Length uint64
	Prot   Prot
	Flags  MapFlags
	// Ops is the backing; nil for anonymous private memory. PgOff is the
	// backing offset in pages.
	Ops   VMOperations
	PgOff uint64
}

func (m *MM) pageAlign(n uint64) (uint64, bool) {
	a := (n + m.pageSize - 1) & m.pageMask()
	return a, a >= n
}

// Mmap creates a mapping and returns its address (do_mmap). It takes the
// mmap lock for writing, killably, on t's behalf. Populating the new
// mapping (MAP_POPULATE, MAP_LOCKED) is the caller's, after the lock is
// released, as mm_populate runs after do_mmap.
func (m *MM) Mmap(t sched.Sleeper, r MapRequest) (uint64, abi.Errno) {
	if r.Length == 0 {
		return 0, abi.EINVAL
	}
	align := m.pageSize
	if r.Flags&MapHugetlb != 0 {
		align = m.HugePageSize() // the length is rounded to whole huge pages
	}
	length := (r.Length + align - 1) &^ (align - 1)
	if length < r.Length || length > m.arch.TaskSize() {
		return 0, abi.ENOMEM
	}
	if r.PgOff+length>>m.pageShift < r.PgOff {
		return 0, abi.EOVERFLOW // the offset wraps
	}
	if !m.MmapWriteLock(t, sched.Killable) {
		return 0, abi.EINTR
	}
	defer m.MmapWriteUnlock()
	// Too many mappings (do_mmap): checked before the new one is counted,
	// so the last one allowed may pass vm.max_map_count by one.
	if m.mapCount() > m.cfg.MaxMapCount {
		return 0, abi.ENOMEM
	}

	addr := r.Addr
	if r.Flags&MapFixedNoReplace != 0 {
		if addr&(align-1) != 0 {
			return 0, abi.EINVAL
		}
		if addr > m.arch.TaskSize()-length {
			return 0, abi.ENOMEM
		}
		if v := m.FindVMA(addr); v != nil && v.Start < addr+length {
			return 0, abi.EEXIST
		}
	} else {
		var ok bool
		tp, placesTHP := r.Ops.(THPPlacer)
		switch {
		case r.Ops == nil && r.Flags&(MapShared|MapHugetlb) == 0 && length%m.HugePageSize() == 0 &&
			m.cfg.Version.Compare(thpAlignAnonSince) >= 0:
			addr, ok = m.thpUnmappedAreaLocked(length, 0)
		case placesTHP && tp.PlacesTHP() && m.thpCovers(r.PgOff<<m.pageShift, length):
			addr, ok = m.thpUnmappedAreaLocked(length, r.PgOff<<m.pageShift)
		default:
			addr, ok = m.unmappedAreaTopDownLocked(length, align)
		}
		if !ok {
			return 0, abi.ENOMEM
		}
	}

	// A file's mapping must end inside the largest file there can be
	// (file_mmap_ok: MAX_LFS_FILESIZE), checked after the address.
	if r.Ops != nil && r.PgOff > (maxFileSize-length)>>m.pageShift {
		return 0, abi.EOVERFLOW
	}
	// Only private anonymous memory may grow: a file, shared memory and
	// hugetlb (a hugetlbfs file) may not, checked after the address as
	// do_mmap does.
	if r.Flags&MapGrowsDown != 0 && (r.Ops != nil || r.Flags&(MapShared|MapHugetlb) != 0) {
		return 0, abi.EINVAL
	}
	flags := r.Prot.vmFlags() | VMMayRead | VMMayWrite | VMMayExec
	if r.Flags&MapShared != 0 {
		flags |= VMShared | VMMayShare
	}
	if r.Flags&MapGrowsDown != 0 {
		flags |= VMGrowsDown
	}
	if r.Flags&MapLocked != 0 && r.Flags&MapHugetlb == 0 {
		// hugetlb VMAs are never locked (mmap_region clears
		// VM_LOCKED_MASK); MAP_LOCKED still populates them.
		flags |= VMLocked
	}
	if r.Flags&MapNoReserve != 0 {
		flags |= VMNoReserve
	}
	if r.Flags&MapHugetlb != 0 {
		flags |= VMHugetlb
	}
	pgoff := r.PgOff
	if r.Ops == nil {
		pgoff = addr >> m.pageShift
	}
	v := &VMA{mm: m, Start: addr, End: addr + length, Flags: flags, PgOff: pgoff, Ops: r.Ops}
	if r.Ops != nil {
		v.file = openFiles.Add(1)
	}
	v.PKey = m.arch.MprotectPKey(r.Prot, 0)
	v.PageProt = pageProt(m.arch, flags, v.PKey, v.Ops)
	if p, ok := v.Ops.(MmapPreparer); ok {
		if err := p.PrepareMmap(v); err != 0 {
			return 0, err
		}
	}
	if v.Ops != nil {
		v.Ops.Open(v)
	}
	v.startWriteNew()
	m.insertLocked(v)
	m.mergeAroundLocked(v)
	return addr, 0
}

// vmStartGap is the lowest address a mapping may end at below v: a
// growsdown VMA keeps stack_guard_gap free below it (vm_start_gap).
func (m *MM) vmStartGap(v *VMA) uint64 {
	if v.Flags&VMGrowsDown == 0 {
		return v.Start
	}
	gap := m.cfg.StackGuardGap << m.pageShift
	if v.Start < gap {
		return 0
	}
	return v.Start - gap
}

// unmappedAreaTopDownLocked finds the highest free range of length below
// mmap_base (unmapped_area_topdown). It walks VMAs downward from the base,
// so it costs what lies above the first fitting gap; the maple tree's gap
// tracking makes the kernel's search logarithmic, which this model does
// not need for scenario-sized maps.
// Preconditions: the mmap lock is held for writing.
func (m *MM) unmappedAreaTopDownLocked(length, align uint64) (uint64, bool) {
	low := m.cfg.MmapMinAddr
	if low < m.pageSize {
		low = m.pageSize
	}
	top := m.arch.MmapBase()
	// fits returns the highest aligned start for a gap [lo, hi).
	fits := func(lo, hi uint64) (uint64, bool) {
		if hi < lo || hi-lo < length {
			return 0, false
		}
		a := (hi - length) &^ (align - 1)
		return a, a >= lo
	}
	var found uint64
	ok := false
	m.tree.Descend(func(_ uint64, v *VMA) bool {
		sg := m.vmStartGap(v)
		if sg >= top {
			return true // above the candidate range, with its gap
		}
		if v.End <= top {
			if found, ok = fits(v.End, top); ok {
				return false
			}
		}
		top = sg
		return top >= low+length
	})
	if ok {
		return found, true
	}
	return fits(low, top)
}

// thpAlignAnonSince is the first kernel that places anonymous private
// memory THP-aligned (__get_unmapped_area: thp_get_unmapped_area): Rik
// van Riel's "mm: align larger anonymous mappings on THP boundaries"
// (efa7df3e3bb5, December 2023; a 2022 version was reverted), limited to
// lengths that are a multiple of the PMD size by "mm, mmap: limit THP
// alignment of anonymous mappings to PMD-aligned sizes" (October 2024,
// sent to the stable kernels). Read: 6.12's mm/mmap.c has both, 6.1's
// neither; the mailing-list archives show efa7df3e3bb5 tested on
// 6.7-rc4 in the mm tree and fixed in January 2024 ("mm:
// thp_get_unmapped_area must honour topdown preference"), so merged for
// 6.8; observed: arm64 6.1 places a 4 MiB mapping unaligned, 6.12
// aligned. A 6.8-6.11 kernel without the stable fix aligned every
// anonymous length, which the model does not follow.
var thpAlignAnonSince = config.Version{Major: 6, Minor: 8}

// thpUnmappedAreaLocked places a mapping whose backing offset is off so
// that transparent huge pages can back it (__thp_get_unmapped_area):
// anonymous memory of a length that is a multiple of the PMD size
// (__get_unmapped_area, whatever the THP mode, when the kernel is built
// with THP), and file mappings that cover an aligned PMD of their file. It
// searches for the length padded by a PMD and takes the address in the
// found range congruent to off modulo the PMD, the range's own start only
// when that is not congruent already; with no room for the padding it
// falls back to a plain search.
// Preconditions: the mmap lock is held for writing.
func (m *MM) thpUnmappedAreaLocked(length, off uint64) (uint64, bool) {
	if padded := length + m.HugePageSize(); padded > length {
		if a, ok := m.unmappedAreaTopDownLocked(padded, m.pageSize); ok {
			sub := (off - a) & (m.HugePageSize() - 1)
			if sub == 0 {
				sub = m.HugePageSize() // top-down: the upper aligned start
			}
			return a + sub, true
		}
	}
	return m.unmappedAreaTopDownLocked(length, m.pageSize)
}

// thpCovers reports whether the file range [off, off+length) covers a
// whole PMD-aligned stretch of the file, the condition on which
// thp_get_unmapped_area aligns a file mapping.
func (m *MM) thpCovers(off, length uint64) bool {
	end := off + length
	aligned := (off + m.HugePageSize() - 1) &^ (m.HugePageSize() - 1)
	return end > aligned && end-aligned >= m.HugePageSize()
}

// openFiles numbers the opens of files that mmap makes (struct file).
var openFiles atomic.Uint64

// maxFileSize is MAX_LFS_FILESIZE on 64-bit kernels.
const maxFileSize = 1<<63 - 1

// HugePageSize returns the size of a hugetlb page and of a THP: the PMD
// size, PAGE_SIZE times a page table's entries (2 MiB over 4 KiB pages,
// 32 MiB over 16 KiB, 512 MiB over 64 KiB).
func (m *MM) HugePageSize() uint64 { return m.PT.Geometry().LevelSize(2) }

// hugeSplitBad reports whether splitting at start or end would cut a
// hugetlb VMA off a huge-page boundary (hugetlb_vm_op_split: EINVAL).
// Preconditions: the mmap lock is held.
func (m *MM) hugeSplitBad(start, end uint64) bool {
	for _, at := range []uint64{start, end} {
		if v := m.VMALookup(at); v != nil && v.Flags&VMHugetlb != 0 && v.Start < at && at&(m.HugePageSize()-1) != 0 {
			return true
		}
	}
	return false
}

// --- the VMA index ---

// insertLocked adds v to the index. Preconditions: write lock.
func (m *MM) insertLocked(v *VMA) {
	m.tree.Insert(v.End, v)
	m.vmaSeq.Add(1)
}

// removeLocked takes v out of the index and marks it detached.
// Preconditions: write lock; v is write-locked.
func (m *MM) removeLocked(v *VMA) {
	m.tree.Delete(v.End)
	v.detached.Store(true)
	m.vmaSeq.Add(1)
}

// setEndLocked moves v's end, re-keying the index in place.
// Preconditions: write lock; v is write-locked; the new end stays above
// the previous VMA's and below the next VMA's (a split or a merge).
func (m *MM) setEndLocked(v *VMA, end uint64) {
	m.tree.Rekey(v.End, end)
	v.End = end
	m.vmaSeq.Add(1)
}

// splitLocked splits v at addr and returns the upper part; v keeps the
// lower (__split_vma). Preconditions: write lock; v.Start < addr < v.End.
func (m *MM) splitLocked(v *VMA, addr uint64) *VMA {
	v.StartWrite()
	hi := &VMA{
		mm: m, Start: addr, End: v.End, Flags: v.Flags, PageProt: v.PageProt,
		PgOff: v.PgOff + (addr-v.Start)>>m.pageShift, Ops: v.Ops, PKey: v.PKey, Uffd: v.Uffd, file: v.file,
	}
	// Both halves share the anon_vma and its chain (anon_vma_clone).
	hi.anonVMA.Store(v.anonVMA.Load())
	hi.anonForked = v.anonForked
	if hi.Ops != nil {
		hi.Ops.Open(hi)
	}
	m.setEndLocked(v, addr)
	hi.startWriteNew()
	m.insertLocked(hi)
	return hi
}

// mergeable reports whether b can be folded into a, which ends where b
// starts (is_mergeable_vma, is_mergeable_anon_vma and the pgoff check of
// can_vma_merge_*). A merge of three checks the outer two against each
// other too (can_vma_merge_right): the model merges the first pair, and
// the result carries the anon_vma the second check needs.
//
// A hugetlb VMA never merges: it has a close hook (hugetlb_vm_op_close),
// and a VMA with one is never removed by a merge (can_merge_remove_vma).
func mergeable(a, b *VMA) bool {
	return b.Flags&VMHugetlb == 0 && a.End == b.Start && a.Flags == b.Flags && a.Ops == b.Ops && a.file == b.file &&
		a.PKey == b.PKey && a.PageProt == b.PageProt && a.Uffd == b.Uffd &&
		a.PgOff+a.Pages() == b.PgOff && anonMergeable(a, b)
}

// mergeAroundLocked folds v's neighbours into one VMA where they are
// compatible (vma_merge). It returns the VMA now covering v's range.
// Preconditions: write lock.
func (m *MM) mergeAroundLocked(v *VMA) *VMA {
	if p := m.prevVMA(v); p != nil && mergeable(p, v) {
		m.absorbLocked(p, v)
		v = p
	}
	if n := m.nextVMA(v); n != nil && mergeable(v, n) {
		m.absorbLocked(v, n)
	}
	return v
}

// absorbLocked extends a over b, which follows it, and removes b.
func (m *MM) absorbLocked(a, b *VMA) {
	a.StartWrite()
	b.StartWrite()
	end := b.End
	if a.anonVMA.Load() == nil && b.anonVMA.Load() != nil {
		// The kept VMA takes the other's anon_vma and chain (dup_anon_vma).
		a.anonVMA.Store(b.anonVMA.Load())
		a.anonForked = b.anonForked
	}
	m.removeLocked(b)
	if b.Ops != nil {
		b.Ops.Close(b)
	}
	m.setEndLocked(a, end)
}

// vmasIn returns the VMAs intersecting [start, end) in order.
// Preconditions: the mmap lock is held.
func (m *MM) vmasIn(start, end uint64) []*VMA {
	var out []*VMA
	m.tree.Ascend(start, func(_ uint64, v *VMA) bool {
		if v.Start >= end {
			return false
		}
		out = append(out, v)
		return true
	})
	return out
}

// Munmap removes every mapping in [addr, addr+length) (do_vmi_munmap).
// Unmapped parts of the range are not an error.
func (m *MM) Munmap(t sched.Sleeper, addr, length uint64) abi.Errno {
	length, ok := m.pageAlign(length)
	if addr&^m.pageMask() != 0 || !ok || addr > m.arch.TaskSize() || length > m.arch.TaskSize()-addr {
		return abi.EINVAL
	}
	if length == 0 {
		return abi.EINVAL
	}
	if !m.MmapWriteLock(t, sched.Killable) {
		return abi.EINTR
	}
	defer m.MmapWriteUnlock()
	end := addr + length
	// v is the first VMA in the range, ve the one holding its end: one
	// lookup when a VMA holds both, as a munmap mostly has.
	v := m.FindVMA(addr)
	if v == nil || v.Start >= end {
		return 0 // nothing mapped in the range
	}
	ve := v
	if v.End <= end {
		ve = m.FindVMA(end)
	}
	// Punching a hole in one VMA adds one: refused at vm.max_map_count
	// (vms_gather_munmap_vmas). Cutting at one end only is never refused:
	// the count does not grow.
	if v.Start < addr && end < v.End && !m.splitAllowed() {
		return abi.ENOMEM
	}
	if hugeCut(v, addr) || hugeCut(ve, end) {
		return abi.EINVAL
	}
	m.unmapLocked(v, ve, addr, end)
	return 0
}

// hugeCut reports whether cutting v at addr would split a hugetlb VMA off
// a huge-page boundary (hugetlb_vm_op_split: EINVAL); nil cuts nothing.
func hugeCut(v *VMA, addr uint64) bool {
	return v != nil && v.Flags&VMHugetlb != 0 && v.Start < addr && addr < v.End && addr&(v.mm.HugePageSize()-1) != 0
}

// unmapLocked removes [start, end), given v, the first VMA ending above
// start, and ve, the first ending above end (or nil), and that v starts
// below end. Preconditions: write lock.
func (m *MM) unmapLocked(v, ve *VMA, start, end uint64) {
	if v.Start < start { // isolate the range: whole VMAs in it
		hi := m.splitLocked(v, start)
		if ve == v {
			ve = hi
		}
		v = hi
	}
	if ve != nil && ve.Start < end && end < ve.End {
		m.splitLocked(ve, end)
	}
	for v != nil && v.Start < end {
		v.StartWrite()
		m.removeLocked(v)
		m.zapLocked(v, v.Start, v.End, true)
		if v.Ops != nil {
			v.Ops.Close(v)
		}
		if v.End >= end {
			break
		}
		v = m.FindVMA(v.End)
	}
}

// zapLocked unmaps the pages of v in [start, end) (zap_page_range):
// mapped frames lose a mapping and a reference; swap entries are dropped;
// PTE markers all go when dropMarkers (munmap, exit), else only poison
// markers go and guard and uffd-wp markers stay, and a page of a
// non-anonymous VMA write-protected for userfaultfd leaves a uffd-wp
// marker behind (zapPTE). Each entry is read and cleared under its table's
// lock (ptep_get_and_clear), so faults may run concurrently under the mmap
// read lock or a VMA lock, as they do during MADV_DONTNEED.
// Preconditions: the mmap lock is held.
func (m *MM) zapLocked(v *VMA, start, end uint64, dropMarkers bool) {
	zn, _ := v.Ops.(ZapNotifier)
	m.PT.Range(start, end, func(addr uint64, t *pgtable.Table, i int) bool {
		if t.Load(i).None() {
			return true // nothing to take the lock for
		}
		t.Lock()
		pte := t.Load(i)
		t.Store(i, zapPTE(v, pte, dropMarkers))
		t.Unlock()
		switch {
		case pte.Mapped():
			if zn != nil {
				zn.ZapPage(v, addr, pte)
			}
			m.releaseMapped(pte)
		case pte.IsSwap():
			m.freeSwap(pte)
		}
		return true
	})
}

// zapPTE returns what a zapped entry leaves behind. Without dropMarkers:
// a poison marker goes (zap_nonpresent_ptes: should_zap_cows), guard and
// uffd-wp markers stay, and a uffd-wp-protected page of a VMA that keeps
// the protection in markers leaves one (zap_install_uffd_wp_if_needed).
// A marker of a huge slot stays a huge marker.
func zapPTE(v *VMA, pte pgtable.PTE, dropMarkers bool) pgtable.PTE {
	switch {
	case dropMarkers:
		return 0
	case pte.IsMarker():
		if rest := pte.Marker() & (pgtable.MarkerGuard | pgtable.MarkerUffdWP); rest != 0 {
			return pgtable.MkMarker(rest) | pte&pgtable.Huge
		}
		return 0
	case pte.Mapped() && pte.Has(pgtable.UffdWP) && v.Flags&VMUffdWP != 0 && !v.Anonymous():
		return pgtable.MkMarker(pgtable.MarkerUffdWP) | pte&pgtable.Huge
	}
	return 0
}

// ZapBackingRange unmaps the entries of v that map backing pages from
// pgoff on, copy-on-write copies of them included (unmap_mapping_range
// with even_cows): truncation uses it. It takes v's address space's mmap
// lock for reading, on t's behalf, and skips v if it is gone meanwhile.
func ZapBackingRange(t sched.Sleeper, v *VMA, pgoff uint64) {
	m := v.mm
	if !m.MmapReadLock(t, sched.Killable) {
		return // the task is dying: its mappings go with it
	}
	defer m.MmapReadUnlock()
	if v.Detached() {
		return
	}
	start := v.Start
	if pgoff > v.PgOff {
		off := (pgoff - v.PgOff) << m.pageShift
		if off >= v.End-v.Start {
			return
		}
		start += off
	}
	m.zapLocked(v, start, v.End, false)
}

// freeSwap drops the reference a swap entry held on its slot (swap_free).
func (m *MM) freeSwap(pte pgtable.PTE) {
	if dev := m.phys.Swap(); dev != nil {
		dev.Free(pte.SwapOffset())
	}
}

// releaseMapped drops the mapping and reference a mapped PTE held; a
// dirty entry of a page-cache page leaves the page dirty, to be written
// back (zap_present_pte).
func (m *MM) releaseMapped(pte pgtable.PTE) {
	if pte.Has(pgtable.Special) {
		return
	}
	if p := m.phys.Lookup(pte.PFN()); p != nil {
		if pte.Has(pgtable.Dirty) && !p.Has(phys.FlagAnon) {
			p.SetFlags(phys.FlagDirty)
		}
		p.RemoveMap()
		p.Put()
	}
}

// LockedPrivateReadOnly returns the parts of [addr, addr+length) in
// mlocked private VMAs that are not writable: an mprotect making them
// writable populates them for writing, so that their copy-on-write
// happens then rather than at the next store (mprotect_fixup).
func (m *MM) LockedPrivateReadOnly(t sched.Sleeper, addr, length uint64) [][2]uint64 {
	if !m.MmapReadLock(t, sched.Killable) {
		return nil
	}
	defer m.MmapReadUnlock()
	var out [][2]uint64
	end := addr + length
	m.tree.Ascend(addr, func(_ uint64, v *VMA) bool {
		if v.Start >= end {
			return false
		}
		if v.Flags&(VMWrite|VMShared|VMLocked) == VMLocked {
			out = append(out, [2]uint64{max(v.Start, addr), min(v.End, end)})
		}
		return true
	})
	return out
}

// Mprotect changes the protection of [addr, addr+length)
// (do_mprotect_pkey). It stops with ENOMEM at the first hole, keeping the
// changes made below it.
func (m *MM) Mprotect(t sched.Sleeper, addr, length uint64, prot Prot) abi.Errno {
	if addr&^m.pageMask() != 0 {
		return abi.EINVAL
	}
	if length == 0 {
		return 0
	}
	length, ok := m.pageAlign(length)
	end := addr + length
	if !ok || end <= addr {
		return abi.ENOMEM
	}
	if !m.MmapWriteLock(t, sched.Killable) {
		return abi.EINTR
	}
	defer m.MmapWriteUnlock()

	v := m.FindVMA(addr)
	if v == nil || v.Start > addr {
		return abi.ENOMEM
	}
	if m.hugeSplitBad(addr, end) {
		return abi.EINVAL
	}
	want := prot.vmFlags()
	pos := addr
	for pos < end {
		v = m.FindVMA(pos)
		if v == nil || v.Start > pos {
			return abi.ENOMEM
		}
		// The new protection must be within what the mapping may ever have.
		if want&VMRead != 0 && v.Flags&VMMayRead == 0 ||
			want&VMWrite != 0 && v.Flags&VMMayWrite == 0 ||
			want&VMExec != 0 && v.Flags&VMMayExec == 0 {
			return abi.EACCES
		}
		stop := min(end, v.End)
		flags := v.Flags&^vmProtMask | want
		pkey := m.arch.MprotectPKey(prot, v.PKey)
		if err := m.mprotectFixupLocked(v, pos, stop, flags, pkey); err != 0 {
			return err
		}
		pos = stop
	}
	return 0
}

// mprotectFixupLocked gives [start, end) of v new flags and key
// (mprotect_fixup): ENOMEM when a split would pass vm.max_map_count.
// Preconditions: write lock.
func (m *MM) mprotectFixupLocked(v *VMA, start, end uint64, flags VMFlags, pkey int) abi.Errno {
	if flags == v.Flags && pkey == v.PKey {
		return 0
	}
	v, err := m.changeRangeLocked(v, start, end, true, func(v *VMA) {
		v.Flags = flags
		v.PKey = pkey
		v.PageProt = pageProt(m.arch, flags, pkey, v.Ops)
	})
	if err != 0 {
		return err
	}
	m.changeProtectionLocked(v, v.Start, v.End)
	m.mergeAroundLocked(v)
	return 0
}

// changeRangeLocked isolates [start, end) of v into its own VMA, applies
// set to it under its write lock, and returns it (vma_modify). Each split
// is refused with ENOMEM when the address space has vm.max_map_count VMAs
// already (split_vma), after any split made before it. A range at an edge
// of v that the neighbour there takes in once set is applied needs no
// split in Linux (vma_merge_existing_range moves the boundary), so it is
// not refused; the model splits and merges, to the same end. Telling
// needs set applied to a stand-in VMA: pure says set does nothing else.
// Preconditions: write lock.
func (m *MM) changeRangeLocked(v *VMA, start, end uint64, pure bool, set func(*VMA)) (*VMA, abi.Errno) {
	merges := false // Linux moves a boundary: no split to refuse
	if (v.Start < start || end < v.End) && !m.splitAllowed() {
		if merges = pure && m.mergesInstead(v, start, end, set); !merges {
			return nil, abi.ENOMEM
		}
	}
	if v.Start < start {
		v = m.splitLocked(v, start)
	}
	if end < v.End {
		if !merges && !m.splitAllowed() {
			return nil, abi.ENOMEM // the first split stays, as in Linux
		}
		m.splitLocked(v, end)
	}
	v.StartWrite()
	set(v)
	return v, 0
}

// mapCount is mm->map_count, the number of VMAs; the index keeps it as
// VMAs come and go.
func (m *MM) mapCount() uint64 { return uint64(m.tree.Len()) }

// splitAllowed is split_vma's check: a split needs the address space to
// have fewer VMAs than vm.max_map_count (map_count >= sysctl_max_map_count
// is -ENOMEM). Preconditions: the mmap lock is held.
func (m *MM) splitAllowed() bool { return m.mapCount() < m.cfg.MaxMapCount }

// mergesInstead reports whether [start, end) of v, given set's
// attributes, would be taken in by the VMA before v (the range starts v)
// or after it (the range ends v) instead of being split off
// (vma_merge_existing_range). Preconditions: write lock.
func (m *MM) mergesInstead(v *VMA, start, end uint64, set func(*VMA)) bool {
	if start != v.Start && end != v.End {
		return false
	}
	p := &VMA{
		mm: m, Start: start, End: end, Flags: v.Flags, PageProt: v.PageProt, PgOff: v.PageOffset(start),
		Ops: v.Ops, PKey: v.PKey, Uffd: v.Uffd, file: v.file, anonForked: v.anonForked,
	}
	p.anonVMA.Store(v.anonVMA.Load())
	set(p)
	if prev := m.prevVMA(v); start == v.Start && prev != nil && mergeable(prev, p) {
		return true
	}
	next := m.nextVMA(v)
	return end == v.End && next != nil && mergeable(p, next)
}

// changeProtectionLocked rewrites the mapped PTEs of [start, end) of v for
// its new protection (change_protection). A PROT_NONE VMA keeps its
// frames behind ProtNone entries. Writable memory whose entries start
// write-protected stays so unless the entry may be made writable at once
// (can_change_pte_writable): in private memory an exclusive anonymous
// page, in shared memory a dirty entry, whose page_mkwrite has run; never
// a uffd-wp protected one. The next write fault decides the others.
func (m *MM) changeProtectionLocked(v *VMA, start, end uint64) {
	m.PT.Range(start, end, func(_ uint64, t *pgtable.Table, i int) bool {
		old := t.Load(i)
		if !old.Mapped() {
			return true
		}
		var pte pgtable.PTE
		if !v.Accessible() {
			pte = (old &^ pgtable.Present) | pgtable.ProtNone
		} else {
			perm := v.PageProt
			if v.Flags&VMWrite != 0 && !old.Has(pgtable.Special) && !old.Has(pgtable.UffdWP) {
				if v.Shared() && old.Has(pgtable.Dirty) ||
					!v.Shared() && (old.Has(pgtable.Write) || m.exclusiveAnon(old)) {
					perm |= pgtable.Write
				}
			}
			pte = (old&^pgtable.ProtNone | pgtable.Present).WithPerm(perm)
		}
		t.Lock()
		t.Store(i, pte)
		t.Unlock()
		return true
	})
}

// exclusiveAnon reports whether pte maps an anonymous page known to be
// exclusive to this mapping (PageAnonExclusive): fork clears that, and
// only a write fault that reuses the page sets it again.
func (m *MM) exclusiveAnon(pte pgtable.PTE) bool {
	p := m.phys.Lookup(pte.PFN())
	return p != nil && p.Has(phys.FlagAnon|phys.FlagAnonExclusive)
}
