package mm

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/pgtable"
)

// VMFlags are a VMA's vm_flags.
type VMFlags uint64

// VM_* flags.
const (
	VMRead      VMFlags = 1 << 0
	VMWrite     VMFlags = 1 << 1
	VMExec      VMFlags = 1 << 2
	VMShared    VMFlags = 1 << 3
	VMMayRead   VMFlags = 1 << 4
	VMMayWrite  VMFlags = 1 << 5
	VMMayExec   VMFlags = 1 << 6
	VMMayShare  VMFlags = 1 << 7
	VMGrowsDown VMFlags = 1 << 8
	VMLocked    VMFlags = 1 << 13
	VMRandRead  VMFlags = 1 << 16
	VMNoReserve VMFlags = 1 << 21
	VMHugetlb   VMFlags = 1 << 22
	VMUffdMiss  VMFlags = 1 << 23 // registered for userfaultfd missing faults
	VMUffdWP    VMFlags = 1 << 24 // registered for userfaultfd write-protect faults
	VMUffdMinor VMFlags = 1 << 25 // registered for userfaultfd minor faults

	// VMAccessFlags are the flags that make a VMA accessible at all.
	VMAccessFlags = VMRead | VMWrite | VMExec
	vmProtMask    = VMRead | VMWrite | VMExec
)

func (f VMFlags) String() string {
	names := []struct {
		f VMFlags
		s string
	}{
		{VMRead, "read"}, {VMWrite, "write"}, {VMExec, "exec"}, {VMShared, "shared"},
		{VMGrowsDown, "growsdown"}, {VMLocked, "locked"}, {VMRandRead, "rand"},
		{VMNoReserve, "noreserve"}, {VMHugetlb, "hugetlb"}, {VMUffdMiss, "uffd-missing"},
		{VMUffdWP, "uffd-wp"}, {VMUffdMinor, "uffd-minor"},
	}
	var parts []string
	for _, n := range names {
		if f&n.f != 0 {
			parts = append(parts, n.s)
		}
	}
	return strings.Join(parts, "|")
}

// VMOperations is what a VMA's backing object provides, as
// vm_operations_struct. Anonymous private VMAs have none. The resolver
// (package memory) asks a backing for pages through an interface of its
// own; this one is what the address space needs to manage references.
type VMOperations interface {
	// Name names the backing ("shmem", "file").
	Name() string
	// Open is called when a new VMA refers to the backing: a split half,
	// a fork child's copy (vm_ops->open).
	Open(v *VMA)
	// Close is called when a VMA stops referring to it (vm_ops->close).
	Close(v *VMA)
}

// WriteNotifier is a VMOperations that wants to hear of the first write to
// each page of a shared mapping (a ->page_mkwrite): such mappings get
// write-protected entries, so that the first write faults
// (vma_wants_writenotify).
type WriteNotifier interface {
	WantsWriteNotify() bool
}

// THPPlacer is a VMOperations whose mappings are placed for transparent
// huge pages, as a file system whose get_unmapped_area is
// thp_get_unmapped_area places them (ext4, xfs).
type THPPlacer interface {
	PlacesTHP() bool
}

// Forker is a VMOperations whose fork child's VMA gets a backing of its
// own (hugetlb_dup_vma_private: the child shares pages, not reservations).
type Forker interface {
	ForkOps() VMOperations
}

// pageProt is vm_page_prot for flags and key, with write permission held
// back when the backing wants write notification.
func pageProt(arch Arch, flags VMFlags, pkey int, ops VMOperations) pgtable.PTE {
	p := arch.PageProt(flags, pkey)
	if flags&VMShared != 0 {
		if wn, ok := ops.(WriteNotifier); ok && wn.WantsWriteNotify() {
			p &^= pgtable.Write
		}
	}
	return p
}

// UserfaultCtx is a userfaultfd context a VMA may be registered with;
// package memory implements it.
type UserfaultCtx interface {
	// UserfaultName names the context, for traces.
	UserfaultName() string
}

// VMA is a virtual memory area: [Start, End) with one protection and one
// backing (vm_area_struct).
//
// Start, End, Flags, PageProt, PgOff and PKey are written only by a holder
// of the mmap lock for writing that has also write-locked the VMA
// (StartWrite); they may be read by any holder of the mmap lock or of the
// VMA's read lock.
type VMA struct {
	mm *MM

	Start, End uint64
	Flags      VMFlags
	// PageProt is the permission bits a new PTE gets (vm_page_prot),
	// from the architecture's protection map.
	PageProt pgtable.PTE
	// PgOff is the offset of Start in the backing, in pages; for
	// anonymous memory it is Start's page number at mmap time.
	PgOff uint64
	Ops   VMOperations
	// PKey is the protection key (x86 pkeys); 0 is the default key.
	PKey int
	// Uffd is the userfaultfd the VMA is registered with, or nil
	// (vm_userfaultfd_ctx); the VMUffd* flags say for which faults.
	Uffd UserfaultCtx

	// The per-VMA lock (vm_lock, and 6.15's vm_refcnt): refs counts the
	// readers, plus vmaWriter while a writer marks the VMA; wmu is held
	// by that writer and doubles as the semaphore it sleeps on until the
	// last reader leaves. A writer marks the VMA write-locked (lockSeq ==
	// the mm's sequence) until the mmap write lock is released. The count
	// is the lock word itself, so LockState reads it at no cost to faults.
	refs     atomic.Int32
	wmu      sync.Mutex
	lockSeq  atomic.Uint64
	detached atomic.Bool
	// file identifies the open file a file-backed VMA maps (vm_file):
	// each mmap of a file opens it anew, and VMAs of different opens
	// never merge; splits and fork children share it. 0 for none.
	file uint64
	// anonVMA is the anon_vma the VMA's anonymous pages are filed under
	// (vma->anon_vma), nil until anon_vma_prepare gives it one at the
	// first: fork copies the entries of a private VMA only then, and two
	// VMAs with different ones never merge. Set once, under the mmap lock
	// (either mode) or the VMA lock; cleared never.
	anonVMA atomic.Pointer[AnonVMA]
	// anonForked says the VMA's anon_vma_chain holds more than its own
	// anon_vma: it was made by fork from a VMA that had one
	// (anon_vma_fork links the child to the parent's too), or split or
	// merged from such a VMA. Such a VMA neither lends its anon_vma to a
	// neighbour (reusable_anon_vma) nor merges with a neighbour that has
	// none (vma_had_uncowed_parents). Written under the mmap write lock.
	anonForked bool
}

// AnonVMA is an anon_vma: what the anonymous pages of one or more VMAs
// are filed under for the reverse map (struct anon_vma). The model keeps
// only its identity: split halves share one, a fork child's VMA gets one
// of its own, and VMAs with different ones never merge.
type AnonVMA struct {
	_ byte // not zero-sized: each one has an address of its own
}

// PrepareAnon gives the VMA an anon_vma if it has none (anon_vma_prepare):
// an adjacent VMA's when it may be shared (find_mergeable_anon_vma), so
// that the two can merge again later, else a new one. It is a load and
// nothing more once the VMA has one.
//
// Preconditions: the mmap lock is held, in either mode (the neighbours are
// looked at); a fault that holds only the VMA lock must take it first
// (vmf_anon_prepare).
func (v *VMA) PrepareAnon() {
	if v.anonVMA.Load() != nil {
		return
	}
	av := v.mm.findMergeableAnonVMA(v)
	if av == nil {
		av = new(AnonVMA)
	}
	// Two faults under the mmap read lock may race here; the first wins
	// (the kernel decides under the page_table_lock).
	v.anonVMA.CompareAndSwap(nil, av)
}

// HasAnonVMA reports whether anonymous pages may live in the VMA.
func (v *VMA) HasAnonVMA() bool { return v.anonVMA.Load() != nil }

// AnonVMA returns the VMA's anon_vma, or nil.
func (v *VMA) AnonVMA() *AnonVMA { return v.anonVMA.Load() }

// anonCompatible reports whether b, just above a, may share a's anon_vma
// (anon_vma_compatible): adjacent, the same file, flags that differ at
// most in what mprotect changes, and contiguous offsets.
func anonCompatible(a, b *VMA) bool {
	return a.End == b.Start && a.file == b.file &&
		(a.Flags^b.Flags)&^VMAccessFlags == 0 && b.PgOff == a.PgOff+a.Pages()
}

// reusableAnonVMA returns old's anon_vma when the VMA next to it may share
// it: compatible, and old's anon_vma its own (reusable_anon_vma: a
// singular anon_vma_chain, not one that went through fork).
func reusableAnonVMA(old, a, b *VMA) *AnonVMA {
	if !anonCompatible(a, b) || old.anonForked {
		return nil
	}
	return old.anonVMA.Load()
}

// findMergeableAnonVMA looks at v's neighbours, the next one first, for
// an anon_vma v may share (find_mergeable_anon_vma).
// Preconditions: the mmap lock is held.
func (m *MM) findMergeableAnonVMA(v *VMA) *AnonVMA {
	if n := m.nextVMA(v); n != nil {
		if av := reusableAnonVMA(n, v, n); av != nil {
			return av
		}
	}
	if p := m.prevVMA(v); p != nil {
		return reusableAnonVMA(p, p, v)
	}
	return nil
}

// anonMergeable reports whether a and b may merge as far as their
// anon_vmas go (is_mergeable_anon_vma, Linux 6.16 to 6.18): the same one,
// or neither has one, or only one has one and it is not a fork child's
// (vma_had_uncowed_parents: its anon_vma_chain is singular). The rule is
// the same whichever of the two is kept.
func anonMergeable(a, b *VMA) bool {
	aa, ba := a.anonVMA.Load(), b.anonVMA.Load()
	switch {
	case aa == nil && ba == nil:
		return true
	case aa == nil:
		return !b.anonForked
	case ba == nil:
		return !a.anonForked
	}
	return aa == ba
}

// MM returns the address space the VMA belongs to.
func (v *VMA) MM() *MM { return v.mm }

// Contains reports whether addr is in [Start, End).
func (v *VMA) Contains(addr uint64) bool { return v.Start <= addr && addr < v.End }

// Pages returns the VMA's size in pages.
func (v *VMA) Pages() uint64 { return (v.End - v.Start) >> v.mm.pageShift }

// Anonymous reports whether the VMA is anonymous private memory
// (vma_is_anonymous: no backing object).
func (v *VMA) Anonymous() bool { return v.Ops == nil }

// Shared reports VM_SHARED.
func (v *VMA) Shared() bool { return v.Flags&VMShared != 0 }

// Accessible reports whether any access is allowed (vma_is_accessible).
func (v *VMA) Accessible() bool { return v.Flags&VMAccessFlags != 0 }

// IsCOW reports whether writes to the VMA copy on write: private and
// possibly writable (is_cow_mapping).
func (v *VMA) IsCOW() bool { return v.Flags&(VMShared|VMMayWrite) == VMMayWrite }

// PageOffset returns the backing page index of addr (linear_page_index).
func (v *VMA) PageOffset(addr uint64) uint64 { return (addr-v.Start)>>v.mm.pageShift + v.PgOff }

// vmaWriter is added to VMA.refs by a writer: readers see it and fail.
const vmaWriter = 1 << 30

// TryStartRead read-locks the VMA unless a writer has it
// (vma_start_read). It fails, never sleeps, when the VMA is being
// modified.
func (v *VMA) TryStartRead() bool {
	if v.lockSeq.Load() == v.mm.lockSeq.Load() {
		return false
	}
	for r := v.refs.Load(); ; r = v.refs.Load() {
		if r&vmaWriter != 0 {
			return false
		}
		if v.refs.CompareAndSwap(r, r+1) {
			break
		}
	}
	// A writer may have marked the VMA between the check and the lock.
	if v.lockSeq.Load() == v.mm.lockSeq.Load() {
		v.EndRead()
		return false
	}
	return true
}

// EndRead releases the read lock (vma_end_read); the last reader out
// wakes a writer waiting for it. It is small enough to be inlined into
// the fault path.
func (v *VMA) EndRead() {
	if v.refs.Add(-1) == vmaWriter {
		v.wakeWriter()
	}
}

// wakeWriter wakes the writer waiting in StartWrite for the last reader
// to leave: it sleeps on wmu. Kept out of line, so that EndRead is not.
//
//go:noinline
func (v *VMA) wakeWriter() { v.wmu.Unlock() }

// readers returns the read locks held on v.
func (v *VMA) readers() int32 { return v.refs.Load() &^ vmaWriter }

// StartWrite write-locks the VMA until the mmap write lock is released
// (vma_start_write): it waits for readers to leave and marks the VMA so no
// new reader gets in. Preconditions: the mmap lock is held for writing.
func (v *VMA) StartWrite() {
	seq := v.mm.lockSeq.Load()
	if v.lockSeq.Load() == seq {
		return
	}
	v.wmu.Lock()
	if v.refs.Add(vmaWriter) != vmaWriter {
		v.wmu.Lock() // readers are in: the last one out unlocks it
	}
	v.lockSeq.Store(seq)
	v.refs.Add(-vmaWriter)
	v.wmu.Unlock()
}

// startWriteNew write-locks v, not in the index yet, until the mmap
// write lock is released, as the kernel write-locks a new VMA before it
// stores it in the tree: a lockless lookup sees each change of the index
// as it is made, and must not take a VMA of a write section not done.
// Nobody can hold v: marking it is enough. Preconditions: the mmap lock
// of v's address space is held for writing.
func (v *VMA) startWriteNew() { v.lockSeq.Store(v.mm.lockSeq.Load()) }

// Detached reports whether the VMA has been removed from its address space.
func (v *VMA) Detached() bool { return v.detached.Load() }
