package riscv

import "github.com/faultline/faultline/kernel"

// CopyUser implements kernel.Arch: arch/riscv/lib/uaccess.S's scalar
// __asm_copy_to_user/__asm_copy_from_user (one routine for both
// directions). It copies bytes until the destination is 8-byte aligned,
// then 64-byte blocks of eight loads followed by eight stores (source
// aligned too) or, for a misaligned source, aligned 8-byte loads shifted
// together (reading the word after the one it stores), then a byte tail;
// lengths below the threshold are copied bytewise. Its fixup reports what
// the destination pointer reached, so a fault in a block's loads or
// stores, or in the look-ahead load of the shifting copy, loses the bytes
// before the fault in that block or word: the count can stop short of the
// faulting byte, and be 0 with readable bytes left (which is how write(2)
// can loop forever in generic_perform_write on riscv64).
//
// Before 6.10 the bytewise threshold was 72 bytes and the block loop ran
// while more than 64 bytes were left; Xiao Wang's "riscv: uaccess: Relax
// the threshold for fast path" (March 2024, read in 6.1.192 and 6.12.117;
// the merge into 6.10 is estimated) made them 71 and "at least 64". The
// vector copy (RISCV_ISA_V on CPUs with Zve32x) is not modeled: qemu's
// default CPU has no vector unit.
func (a *Arch) CopyUser(c kernel.UserCopy) (copied, stored uint64) {
	const szreg = 8
	relaxed := a.cfg.Version.AtLeast(6, 10)
	threshold := uint64(9 * szreg)
	if relaxed {
		threshold = 9*szreg - 1
	}
	s := rvCopy{c: c, dst: dstAddr(c), src: srcAddr(c)}
	dst0 := s.dst
	s.run(s.dst+c.N, c.N >= threshold, relaxed) // a fault leaves s.dst where the fixup counts from
	return s.dst - dst0, s.stored
}

// rvCopy is the state of one run of the routine: dst and src are a0 and
// a1, stored the end of the user bytes stored so far (relative to
// c.User).
type rvCopy struct {
	c        kernel.UserCopy
	dst, src uint64
	stored   uint64
}

func dstAddr(c kernel.UserCopy) uint64 {
	if c.ToUser {
		return c.User
	}
	return c.Kern
}

func srcAddr(c kernel.UserCopy) uint64 {
	if c.ToUser {
		return c.Kern
	}
	return c.User
}

// load and store are one access of w bytes; false is the fault that
// sends the routine to its fixup. Only the user side can fault.
func (s *rvCopy) load(addr, w uint64) bool {
	return s.c.ToUser || !s.c.UserFaults(addr, w)
}

func (s *rvCopy) store(addr, w uint64) bool { return s.c.Store(addr, w, &s.stored) }

// byte copies one byte and advances both pointers.
func (s *rvCopy) byte() bool {
	if !s.load(s.src, 1) || !s.store(s.dst, 1) {
		return false
	}
	s.src++
	s.dst++
	return true
}

// run copies up to end (the destination's end) and reports whether it
// completed; on a fault s.dst is where the fixup computes the count from.
func (s *rvCopy) run(end uint64, fast, relaxed bool) bool {
	const szreg, block = 8, 64
	if fast {
		// Bytes until the destination is aligned.
		for aligned := (s.dst + szreg - 1) &^ (szreg - 1); s.dst < aligned; {
			if !s.byte() {
				return false
			}
		}
		if shift := s.src & (szreg - 1); shift == 0 {
			// Blocks: eight loads, then eight stores; both pointers
			// move once the block is stored.
			for {
				for i := uint64(0); i < block; i += szreg {
					if !s.load(s.src+i, szreg) {
						return false
					}
				}
				for i := uint64(0); i < block; i += szreg {
					if !s.store(s.dst+i, szreg) {
						return false
					}
				}
				s.dst += block
				s.src += block
				if left := end - s.dst; left < block || !relaxed && left == block {
					break
				}
			}
		} else {
			// Shifting copy: aligned loads, the first one below src,
			// each store combining the word loaded before with the
			// next one.
			wordEnd := end &^ (szreg - 1)
			src := s.src &^ (szreg - 1)
			if !s.load(src, szreg) {
				return false
			}
			for {
				if !s.load(src+szreg, szreg) {
					return false
				}
				src += szreg
				if !s.store(s.dst, szreg) {
					return false
				}
				s.dst += szreg
				if s.dst >= wordEnd {
					break
				}
			}
			s.src = src + shift
		}
	}
	for s.dst < end {
		if !s.byte() {
			return false
		}
	}
	return true
}
