package mm

// vmaCacheSize is the entries of a VMACache (VMACACHE_SIZE).
const vmaCacheSize = 4

// VMACache is one task's last VMA lookups, as the kernel's per-task
// vmacache (Linux 3.15 to 6.0, task_struct.vmacache) kept them: a few
// entries, each the range and the VMA found, all forgotten when the
// address space's VMA sequence (vmacache_seqnum) moved on since they were
// filled. Successive faults of a thread mostly hit the VMA of the one
// before, and a hit costs two loads and compares instead of a descent of
// the index.
//
// An entry is a VMA's range, or a hole's (the gap between two VMAs, or
// below the first) with the VMA above it: find_vma's answer for every
// address of the hole. The kernel's vmacache kept VMAs only; the model
// keeps holes too, which FindVMACached fills, so that repeated lookups of
// unmapped addresses do not descend the index each time.
//
// A VMACache belongs to one task (the zero value is empty and ready): it
// is not safe for concurrent use, and a task that changes address space
// (exec) keeps using it, as the entries name their address space.
type VMACache struct {
	mm  *MM
	seq uint64
	e   [vmaCacheSize]vmaCacheEntry
}

// vmaCacheEntry is one cached lookup: v's range, or the range of the
// hole below v. The range is the cache's copy, so that a lockless lookup
// reads no VMA field before it holds the VMA lock.
type vmaCacheEntry struct {
	start, end uint64
	v          *VMA
}

// slot is the entry addr belongs in (VMACACHE_HASH: by PMD, so that the
// pages of one region share a slot).
func vmaCacheSlot(addr uint64) int { return int(addr>>21) & (vmaCacheSize - 1) }

// lookup returns the cached VMA containing addr (vmacache_find), or nil.
// It looks first in the slot addr hashes to, where a lookup of addr
// would have filled it, then in the others in turn, as vmacache_find
// does since Linux 4.17: the faults of one region hit at the first
// compare, not after a scan of the slots before theirs.
func (c *VMACache) lookup(m *MM, addr uint64) *VMA {
	if c.mm != m || c.seq != m.vmaSeq.Load() {
		return nil
	}
	h := vmaCacheSlot(addr)
	if e := &c.e[h]; e.start <= addr && addr < e.end {
		return e.v // the common hit, tested before the loop
	}
	for i := 1; i < vmaCacheSize; i++ {
		if e := &c.e[(h+i)&(vmaCacheSize-1)]; e.start <= addr && addr < e.end {
			return e.v
		}
	}
	return nil
}

// fill records v, found for addr, whose range is [start, end)
// (vmacache_update), emptying the cache first if it is stale.
func (c *VMACache) fill(m *MM, seq, addr uint64, v *VMA, start, end uint64) {
	if c.mm != m || c.seq != seq {
		*c = VMACache{mm: m, seq: seq}
	}
	c.e[vmaCacheSlot(addr)] = vmaCacheEntry{start: start, end: end, v: v}
}

// FindVMACached is FindVMA through the task's cache c: the answer c
// holds for addr, else the index's, which fills c: with the VMA when it
// contains addr, else with the hole addr is in, from the end of the VMA
// below (vma_prev) to the start of the one found. Nothing is cached
// above the last VMA. Preconditions: the mmap lock is held; c is the
// calling task's.
func (m *MM) FindVMACached(c *VMACache, addr uint64) *VMA {
	if v := c.lookup(m, addr); v != nil {
		return v
	}
	v := m.FindVMA(addr)
	switch {
	case v == nil:
	case v.Start <= addr:
		c.fill(m, m.vmaSeq.Load(), addr, v, v.Start, v.End)
	default:
		start := uint64(0)
		if p := m.prevVMA(v); p != nil {
			start = p.End
		}
		c.fill(m, m.vmaSeq.Load(), addr, v, start, v.Start)
	}
	return v
}

// LockVMAUnderRCUCached is LockVMAUnderRCU through the task's cache c: a
// VMA that c holds for addr is read-locked and checked as one found in
// the snapshot is (the VMA above a hole c holds is found not to contain
// addr: no VMA is locked, as LockVMAUnderRCU locks none for an address
// in a hole); else the snapshot is searched, and the VMA found fills c
// once it is locked. Postconditions as LockVMAUnderRCU.
func (m *MM) LockVMAUnderRCUCached(c *VMACache, addr uint64) *VMA {
	if !m.perVMALock {
		return nil
	}
	if v := c.lookup(m, addr); v != nil {
		if v.TryStartRead() {
			if !v.Detached() && v.Contains(addr) {
				return v
			}
			v.EndRead()
		}
		return nil // being changed, or addr is in a hole: the caller takes the mmap lock
	}
	// The sequence is read before the snapshot: a change after it makes
	// the entry stale at once, never a stale entry look current.
	seq := m.vmaSeq.Load()
	v := m.LockVMAUnderRCU(addr)
	if v != nil {
		c.fill(m, seq, addr, v, v.Start, v.End)
	}
	return v
}
