// Package mm models a process address space: the MM (mm_struct) with its
// VMAs in an ordered index, the mmap lock and the per-VMA locks, and the
// operations that change the map (mmap, munmap, mprotect, madvise, stack
// expansion, fork).
//
// Lock order (outermost first):
//
//	mmap lock (MM.mmapLock, an RWSem)
//	  VMA lock (VMA.lock): taken alone by fault readers (TryStartRead),
//	  or by a writer of the mmap lock to mark the VMA (StartWrite)
//	    page-table allocation lock (pgtable.PageTable)
//	      PTE table lock (pgtable.Table)
//	        page reference and map counts (atomic)
//
// Functions whose name ends in Locked expect the caller to hold the mmap
// lock in the mode their Preconditions say; functions that release a lock
// say so in Postconditions.
package mm

import (
	"fmt"
	"sync/atomic"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm/internal/vmatree"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

// Access is the kind of a memory access.
type Access int

// Accesses.
const (
	AccessRead Access = iota
	AccessWrite
	AccessExec
)

func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessExec:
		return "exec"
	}
	return "access?"
}

// Arch is what the address space needs to know of the architecture.
type Arch interface {
	// PageProt returns the PTE permission bits for a VMA's flags and
	// protection key (vm_get_page_prot, the protection_map).
	PageProt(flags VMFlags, pkey int) pgtable.PTE
	// TaskSize is the end of the user address range (TASK_SIZE).
	TaskSize() uint64
	// MmapBase is where top-down address allocation starts (mmap_base).
	MmapBase() uint64
	// AccessPermitted reports whether protection keys allow the access
	// (arch_vma_access_permitted); architectures without keys return true.
	AccessPermitted(v *VMA, write, exec, foreign bool) bool
	// MprotectPKey returns the protection key a VMA gets for prot
	// (arch_override_mprotect_pkey: x86's execute-only key), given its
	// current key.
	MprotectPKey(prot Prot, pkey int) int
}

// vmaTree is the VMA index, keyed by end address, so the first entry
// ending above an address is the VMA find_vma returns.
type vmaTree = vmatree.Tree[*VMA]

// MM is an address space (mm_struct).
type MM struct {
	arch Arch
	cfg  *config.Kernel
	phys *phys.Allocator

	// PT is the address space's page tables.
	PT *pgtable.PageTable

	mmapLock RWSem
	// lockSeq is mm_lock_seq: a VMA is write-locked while its own
	// sequence equals this one; releasing the mmap write lock bumps it.
	lockSeq atomic.Uint64

	// tree indexes the VMAs. Written under the mmap write lock; read
	// under either mode, or with no lock at all by lookups
	// (lock_vma_under_rcu, the maple tree's RCU mode): each change is
	// published as it is made, by one atomic store, so such a lookup may
	// see a write section half done, and trusts what it found only once
	// it holds the VMA's lock, which the writer holds on every VMA it
	// changes, adds or removes until the section ends.
	tree vmaTree
	// vmaSeq is vmacache_seqnum: bumped, under the write lock, whenever a
	// VMA comes, goes or changes its range, so that a VMACache filled
	// before knows it is stale.
	vmaSeq atomic.Uint64

	// stackLimit is RLIMIT_STACK of the owning process, in bytes.
	stackLimit atomic.Uint64
	users      atomic.Int32 // tasks using the mm (mm_users)

	// pageShift and pageSize are PAGE_SHIFT and PAGE_SIZE: the
	// allocator's frames.
	pageShift uint
	pageSize  uint64

	// newPTEBits are the bits every entry the kernel installs starts
	// with beyond its protection: Accessed where the arch's mk_pte and
	// pfn_pte make it young (youngEntries), none where the hardware sets
	// it on the access that retries.
	newPTEBits pgtable.PTE

	// perVMALock is CONFIG_PER_VMA_LOCK, which Linux has from 6.4 on
	// (every arch that supports it then or later); set once by New.
	perVMALock bool
}

// tableDepth is an Arch whose page tables have a depth of their own,
// which the pgtable_levels key does not choose (s390x).
type tableDepth interface{ PageTableLevels() int }

// youngEntries is an Arch whose new page-table entries are young from
// the start: s390x, whose hardware keeps no referenced bit, so that its
// mk_pte and pfn_pte (mk_pte_phys) set the software one, and an entry
// only pte_mkold made old (fork's copy, reclaim's aging) is invalid to
// its MMU until a fault marks it young again.
type youngEntries interface{ NewEntriesYoung() bool }

// New returns an empty address space. cfg must not change afterwards.
func New(arch Arch, cfg *config.Kernel, alloc *phys.Allocator) *MM {
	levels := cfg.PgtableLevels
	if levels == 0 {
		levels = 4
	}
	if d, ok := arch.(tableDepth); ok {
		levels = d.PageTableLevels() // the arch's own depth, whatever the key says
	}
	geo := pgtable.Std(levels)
	if g, ok := arch.(Geometer); ok {
		geo = g.Geometry(alloc.PageShift(), levels)
	}
	m := &MM{arch: arch, cfg: cfg, phys: alloc, PT: pgtable.NewGeometry(geo),
		pageShift: alloc.PageShift(), pageSize: alloc.PageSize(),
		perVMALock: cfg.Version.AtLeast(6, 4)}
	if y, ok := arch.(youngEntries); ok && y.NewEntriesYoung() {
		m.newPTEBits = pgtable.Accessed
	}
	m.lockSeq.Store(1)
	m.stackLimit.Store(8 << 20)
	m.users.Store(1)
	return m
}

// Geometer is an Arch whose page tables do not have the 4 KiB-page shape
// of pgtable.Std (arm64 with 16 or 64 KiB pages): it gives the geometry
// of its tables for a base page and the configured depth.
type Geometer interface {
	Geometry(pageShift uint, levels int) pgtable.Geometry
}

// NewPTEBits returns the bits an entry the kernel installs starts with
// beyond its protection (see youngEntries): the set_pte_at sites whose
// entry the access that retries would mark accessed on other arches.
func (m *MM) NewPTEBits() pgtable.PTE { return m.newPTEBits }

// PageShift returns PAGE_SHIFT, the base page's.
func (m *MM) PageShift() uint { return m.pageShift }

// PageSize returns PAGE_SIZE.
func (m *MM) PageSize() uint64 { return m.pageSize }

// PageMask returns PAGE_MASK.
func (m *MM) PageMask() uint64 { return m.pageMask() }

func (m *MM) pageMask() uint64 { return ^(m.pageSize - 1) }

// Arch returns the architecture the address space was built for.
func (m *MM) Arch() Arch { return m.arch }

// Config returns the kernel configuration.
func (m *MM) Config() *config.Kernel { return m.cfg }

// Phys returns the page allocator the address space uses.
func (m *MM) Phys() *phys.Allocator { return m.phys }

// StackLimit returns RLIMIT_STACK in bytes.
func (m *MM) StackLimit() uint64 { return m.stackLimit.Load() }

// SetStackLimit sets RLIMIT_STACK; it takes effect for the next expansion.
func (m *MM) SetStackLimit(n uint64) { m.stackLimit.Store(n) }

// Get takes a user reference (mmget); Put drops it and tears the address
// space down when it was the last (mmput → exit_mmap).
func (m *MM) Get() { m.users.Add(1) }

// Put drops a user reference; see Get.
func (m *MM) Put() {
	if m.users.Add(-1) == 0 {
		m.exitMmap()
	}
}

// --- the mmap lock ---

// MmapReadTryLock is mmap_read_trylock.
func (m *MM) MmapReadTryLock() bool { return m.mmapLock.TryRLock() }

// MmapReadLock takes the mmap lock for reading in mode
// (mmap_read_lock_killable and kin); false means a signal ended the wait.
func (m *MM) MmapReadLock(t sched.Sleeper, mode sched.Mode) bool {
	return m.mmapLock.RLock(t, mode)
}

// MmapReadUnlock is mmap_read_unlock.
func (m *MM) MmapReadUnlock() { m.mmapLock.RUnlock() }

// MmapWriteLock takes the mmap lock for writing in mode; false means a
// signal ended the wait (mmap_write_lock_killable → -EINTR).
func (m *MM) MmapWriteLock(t sched.Sleeper, mode sched.Mode) bool {
	return m.mmapLock.Lock(t, mode)
}

// MmapWriteTryLock is mmap_write_trylock.
func (m *MM) MmapWriteTryLock() bool { return m.mmapLock.TryLock() }

// MmapWriteUnlock releases the write lock: every VMA write lock ends
// (vma_end_write_all), so lockless lookups may take the VMAs changed.
func (m *MM) MmapWriteUnlock() {
	m.lockSeq.Add(1)
	m.mmapLock.Unlock()
}

// MmapWriteDowngrade turns the write lock into a read lock
// (mmap_write_downgrade), ending the VMA write locks.
func (m *MM) MmapWriteDowngrade() {
	m.lockSeq.Add(1)
	m.mmapLock.Downgrade()
}

// LockState reports the mmap lock's holders and the VMA read locks held,
// for tests that check nothing is left locked. The VMA read locks are
// counted VMA by VMA over the index, read as a lockless lookup does (a
// VMA that left it was write-locked to leave, which waited for its
// readers): the fault
// path keeps no address-space-wide count, whose cache line both of two
// CPUs faulting in different VMAs would write.
func (m *MM) LockState() (readers int, writer bool, vmaReaders int64) {
	r, w, _ := m.mmapLock.State()
	var n int64
	m.tree.Ascend(0, func(_ uint64, v *VMA) bool {
		n += int64(v.readers())
		return true
	})
	return r, w, n
}

// --- lookups ---

// FindVMA returns the first VMA that ends above addr, or nil (find_vma).
// The VMA may start above addr. Preconditions: the mmap lock is held.
func (m *MM) FindVMA(addr uint64) *VMA {
	_, v, _ := m.tree.Find(addr)
	return v
}

// VMALookup returns the VMA containing addr, or nil (vma_lookup).
// Preconditions: the mmap lock is held.
func (m *MM) VMALookup(addr uint64) *VMA {
	if v := m.FindVMA(addr); v != nil && v.Start <= addr {
		return v
	}
	return nil
}

// prevVMA returns the VMA below v, or nil (vma_prev).
// Preconditions: the mmap lock is held.
func (m *MM) prevVMA(v *VMA) *VMA {
	_, p, _ := m.tree.Floor(v.Start)
	return p
}

// nextVMA returns the VMA above v, or nil. Preconditions: the mmap lock is held.
func (m *MM) nextVMA(v *VMA) *VMA { return m.FindVMA(v.End) }

// VMAs calls fn for each VMA in address order until fn returns false.
// Preconditions: the mmap lock is held.
func (m *MM) VMAs(fn func(v *VMA) bool) {
	m.tree.Ascend(0, func(_ uint64, v *VMA) bool { return fn(v) })
}

// VMACount returns the number of VMAs. Preconditions: the mmap lock is held.
func (m *MM) VMACount() int { return m.tree.Len() }

// LockVMAUnderRCU finds the VMA containing addr and read-locks it without
// taking the mmap lock (lock_vma_under_rcu). It returns nil when no VMA
// contains addr or the VMA is being changed; the caller then falls back to
// the mmap lock. It never sleeps and never expands a stack. A kernel
// older than 6.4 has no per-VMA locks (CONFIG_PER_VMA_LOCK arrived in
// 6.4): there it always returns nil, as the stub of include/linux/mm.h
// does, and every fault takes the mmap lock.
//
// Postconditions: a non-nil VMA is read-locked; release it with EndRead.
func (m *MM) LockVMAUnderRCU(addr uint64) *VMA {
	if !m.perVMALock {
		return nil
	}
	_, v, _ := m.tree.Find(addr)
	if v == nil || !v.TryStartRead() {
		return nil
	}
	// The lookup may have raced a change, and the VMA's range is read
	// only under its lock (a writer may be moving it): check it now, as
	// lock_vma_under_rcu does after vma_start_read.
	if v.Detached() || !v.Contains(addr) {
		v.EndRead()
		return nil
	}
	return v
}

// PerVMALock reports whether the kernel modeled has per-VMA locks
// (CONFIG_PER_VMA_LOCK, 6.4 on): without, LockVMAUnderRCU always fails.
func (m *MM) PerVMALock() bool { return m.perVMALock }

// ReleaseFaultLock releases the lock a fault holds on v: the VMA lock when
// it runs under it, else the mmap read lock (release_fault_lock).
func ReleaseFaultLock(v *VMA, vmaLocked bool) {
	if vmaLocked {
		v.EndRead()
	} else {
		v.mm.MmapReadUnlock()
	}
}

// lockCarefully takes the mmap lock for a fault, tracing on tr: trylock first; for a
// kernel-mode fault whose instruction has no exception-table entry give up
// rather than sleep (it may be a kernel bug that already holds the lock);
// else sleep killably (get_mmap_lock_carefully, and its write twin).
func (m *MM) lockCarefully(t sched.Sleeper, tr *trace.Track, write, user, hasFixup bool) bool {
	fn := "mmap_read_trylock"
	if write {
		fn = "mmap_write_trylock"
	}
	if write {
		if m.mmapLock.TryLock() {
			tr.Step(fn, "taken")
			return true
		}
	} else if m.mmapLock.TryRLock() {
		tr.Step(fn, "taken")
		return true
	}
	tr.Step(fn, "contended")
	if !user && !hasFixup {
		tr.Step("get_mmap_lock_carefully", "a kernel instruction without a fixup does not sleep for the lock: bad area")
		return false
	}
	var ok bool
	if write {
		fn = "mmap_write_lock_killable"
		ok = m.mmapLock.Lock(t, sched.Killable)
	} else {
		fn = "mmap_read_lock_killable"
		ok = m.mmapLock.RLock(t, sched.Killable)
	}
	if ok {
		tr.Step(fn, "taken after a killable wait")
	} else {
		tr.Step(fn, "a fatal signal ended the wait: -EINTR")
	}
	return ok
}

// LockAndFindVMA takes the mmap lock for reading and returns the VMA for a
// fault at addr, expanding a growsdown stack if addr is just below one
// (lock_mm_and_find_vma). Stack expansion needs the write lock: the read
// lock is dropped, the write lock taken, the VMA looked up again and
// expanded, and the lock downgraded.
//
// user says the fault came from user mode; hasFixup that the faulting
// kernel instruction has an exception-table entry.
//
// Postconditions: on success the mmap lock is held for reading; on nil
// (no VMA, expansion refused, or a fatal signal while waiting) no lock is
// held.
func (m *MM) LockAndFindVMA(addr uint64, t sched.Sleeper, user, hasFixup bool) *VMA {
	tr := trace.Of(t)
	tr.Step("lock_mm_and_find_vma", "the mmap lock for reading, then the VMA")
	if !m.lockCarefully(t, tr, false, user, hasFixup) {
		return nil
	}
	v := m.FindVMA(addr)
	if v != nil && v.Start <= addr {
		if tr.On() {
			tr.Step("find_vma", "VMA "+v.describe())
		}
		return v
	}
	if v == nil || v.Flags&VMGrowsDown == 0 {
		if tr.On() {
			if v == nil {
				tr.Step("find_vma", "no VMA above the address: bad area")
			} else {
				tr.Step("find_vma", "the next VMA "+v.describe()+" starts above and is no stack: bad area")
			}
		}
		m.MmapReadUnlock()
		return nil
	}

	// There is no atomic upgrade: drop the read lock and take the write
	// lock, then look again, as the map may have changed meanwhile.
	if tr.On() {
		tr.Step("find_vma", "the address is below the growsdown VMA "+v.describe()+": expand the stack")
	}
	m.MmapReadUnlock()
	tr.Step("mmap_read_unlock", "dropped, to take the lock for writing (no atomic upgrade)")
	if !m.lockCarefully(t, tr, true, user, hasFixup) {
		return nil
	}
	v = m.FindVMA(addr)
	if v == nil {
		tr.Step("find_vma", "the VMA went away meanwhile: bad area")
		m.MmapWriteUnlock()
		return nil
	}
	if v.Start > addr {
		if v.Flags&VMGrowsDown == 0 {
			tr.Step("find_vma", "the VMA above is no longer a stack: bad area")
			m.MmapWriteUnlock()
			return nil
		}
		if err := m.ExpandStackLocked(v, addr); err != nil {
			if tr.On() {
				tr.Step("expand_downwards", "refused: "+err.Error()+": bad area")
			}
			m.MmapWriteUnlock()
			return nil
		}
		if tr.On() {
			tr.Step("expand_downwards", "the stack is now "+v.describe())
		}
	}
	m.MmapWriteDowngrade()
	tr.Step("mmap_write_downgrade", "the fault goes on under the read lock")
	return v
}

// describe names v for a trace: its range and permissions.
func (v *VMA) describe() string {
	return fmt.Sprintf("[%#x, %#x) %s", v.Start, v.End, v.Flags.perms())
}

// perms spells the access flags as /proc/PID/maps does.
func (f VMFlags) perms() string {
	b := []byte("---p")
	if f&VMRead != 0 {
		b[0] = 'r'
	}
	if f&VMWrite != 0 {
		b[1] = 'w'
	}
	if f&VMExec != 0 {
		b[2] = 'x'
	}
	if f&VMShared != 0 {
		b[3] = 's'
	}
	return string(b)
}

// Describe names v for a trace: its range and permissions.
func (v *VMA) Describe() string { return v.describe() }
