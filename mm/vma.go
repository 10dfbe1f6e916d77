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

	// The per-VMA lock (vm_lock). Readers hold lock for reading; a writer
	// takes it briefly to mark the VMA write-locked (lockSeq == the mm's
	// sequence) until the mmap write lock is released.
	lock     sync.RWMutex
	lockSeq  atomic.Uint64
	detached atomic.Bool
	// file identifies the open file a file-backed VMA maps (vm_file):
	// each mmap of a file opens it anew, and VMAs of different opens
	// never merge; splits and fork children share it. 0 for none.
	file uint64
	// anonVMA says anonymous pages may live in the VMA (vma->anon_vma,
	// made by anon_vma_prepare at the first one): fork copies the entries
	// of a private VMA only then.
	anonVMA atomic.Bool
}

// PrepareAnon records that the VMA is about to hold an anonymous page
// (anon_vma_prepare). Safe under the mmap read lock or the VMA's lock.
func (v *VMA) PrepareAnon() {
	if !v.anonVMA.Load() {
		v.anonVMA.Store(true)
	}
}

// HasAnonVMA reports whether anonymous pages may live in the VMA.
func (v *VMA) HasAnonVMA() bool { return v.anonVMA.Load() }

// MM returns the address space the VMA belongs to.
func (v *VMA) MM() *MM { return v.mm }

// Contains reports whether addr is in [Start, End).
func (v *VMA) Contains(addr uint64) bool { return v.Start <= addr && addr < v.End }

// Pages returns the VMA's size in pages.
func (v *VMA) Pages() uint64 { return (v.End - v.Start) >> pageShift }

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
func (v *VMA) PageOffset(addr uint64) uint64 { return (addr-v.Start)>>pageShift + v.PgOff }

// TryStartRead read-locks the VMA unless a writer has it
// (vma_start_read). It fails, never sleeps, when the VMA is being
// modified.
func (v *VMA) TryStartRead() bool {
	if v.lockSeq.Load() == v.mm.lockSeq.Load() {
		return false
	}
	if !v.lock.TryRLock() {
		return false
	}
	// A writer may have marked the VMA between the check and the lock.
	if v.lockSeq.Load() == v.mm.lockSeq.Load() {
		v.lock.RUnlock()
		return false
	}
	v.mm.vmaReaders.Add(1)
	return true
}

// EndRead releases the read lock (vma_end_read).
func (v *VMA) EndRead() {
	v.mm.vmaReaders.Add(-1)
	v.lock.RUnlock()
}

// StartWrite write-locks the VMA until the mmap write lock is released
// (vma_start_write): it waits for readers to leave and marks the VMA so no
// new reader gets in. Preconditions: the mmap lock is held for writing.
func (v *VMA) StartWrite() {
	seq := v.mm.lockSeq.Load()
	if v.lockSeq.Load() == seq {
		return
	}
	v.lock.Lock()
	v.lockSeq.Store(seq)
	v.lock.Unlock()
}

// Detached reports whether the VMA has been removed from its address space.
func (v *VMA) Detached() bool { return v.detached.Load() }
