package mm

import "github.com/faultline/faultline/abi"

// ExpandStackLocked grows the growsdown VMA v down to cover addr
// (expand_downwards, with acct_stack_growth's RLIMIT_STACK check).
//
// The new start must not be below mmap_min_addr; an accessible VMA below
// that is not itself a growsdown stack must stay at least stack_guard_gap
// away (a PROT_NONE neighbour does not count); and the grown VMA may be at
// most RLIMIT_STACK bytes — exactly the limit is allowed.
//
// Preconditions: the mmap lock is held for writing; v.Start > addr.
// An address below the end of the previous VMA is refused.
func (m *MM) ExpandStackLocked(v *VMA, addr uint64) error {
	addr &= m.pageMask()
	if addr < m.cfg.MmapMinAddr {
		return abi.EPERM
	}
	if prev := m.prevVMA(v); prev != nil {
		if addr < prev.End {
			return abi.ENOMEM // never grow over another mapping
		}
		if prev.Flags&VMGrowsDown == 0 && prev.Accessible() && addr-prev.End < m.cfg.StackGuardGap<<m.pageShift {
			return abi.ENOMEM
		}
	}
	v.PrepareAnon() // anon_vma_prepare, before acct_stack_growth
	if v.End-addr > m.StackLimit() {
		return abi.ENOMEM
	}
	v.StartWrite()
	v.PgOff -= (v.Start - addr) >> m.pageShift
	v.Start = addr
	m.vmaSeq.Add(1)
	return nil
}
