package arm64

import "github.com/faultline/faultline/kernel"

// CopyUser implements kernel.Arch: arch/arm64/lib/copy_to_user.S and
// copy_from_user.S around copy_template.S (the same in 6.1.192 and
// 6.12.117). The template aligns the source to 16 bytes with one access
// each of 1, 2, 4 and 8 bytes, then moves 16-byte pairs (from 64 bytes on,
// four pairs loaded ahead of their stores), then a tail of 8, 4, 2 and 1.
// Each user access is an unprivileged ldtr/sttr (a pair is two of them),
// and the pointers move only after an access completes, so the fixup's
// count ("end - dst") is what the destination pointer reached. When that
// is nothing, the fixup tries once more with a single byte: a copy from a
// buffer whose first byte is readable always makes progress, which the
// retry loops of copy_page_to_iter and generic_perform_write turn into
// an exact count.
func (a *Arch) CopyUser(c kernel.UserCopy) (copied, stored uint64) {
	s := a64Copy{c: c}
	if c.ToUser {
		s.dst, s.src = c.User, c.Kern
	} else {
		s.dst, s.src = c.Kern, c.User
	}
	s.dstin, s.srcin = s.dst, s.src
	if !s.template() && s.tryHarder {
		// 9997: nothing copied yet: one more byte, from the start.
		if s.dst == s.dstin && (c.ToUser || !c.UserFaults(s.srcin, 1)) && s.store(s.dst, 1) {
			s.dst++
		}
	}
	return s.dst - s.dstin, s.stored
}

// a64Copy is one run of the template: dst and src are its registers,
// stored the end of the user bytes stored (relative to c.User), tryHarder
// whether the access that faulted goes to the fixup that retries a byte
// (every access but a byte one: those branch past it).
type a64Copy struct {
	c                      kernel.UserCopy
	dst, src, dstin, srcin uint64
	stored                 uint64
	tryHarder              bool
}

func (s *a64Copy) fault(w uint64) bool {
	s.tryHarder = w > 1
	return false
}

// ld loads w bytes (16: a pair) and advances src.
func (s *a64Copy) ld(w uint64) bool {
	if !s.c.ToUser && s.c.UserFaults(s.src, w) {
		return s.fault(w)
	}
	s.src += w
	return true
}

// st stores w bytes and advances dst; of a pair, the first half may be
// stored before the second faults.
func (s *a64Copy) st(w uint64) bool {
	if !s.store(s.dst, w) {
		if w == 16 {
			s.store(s.dst, 8)
		}
		return s.fault(w)
	}
	s.dst += w
	return true
}

func (s *a64Copy) store(addr, w uint64) bool { return s.c.Store(addr, w, &s.stored) }

// mv is a load then its store.
func (s *a64Copy) mv(w uint64) bool { return s.ld(w) && s.st(w) }

// template runs copy_template.S and reports whether it completed.
func (s *a64Copy) template() bool {
	count := int64(s.c.N)
	if count < 16 {
		return s.tiny15(count)
	}
	if head := -s.src & 15; head != 0 {
		count -= int64(head)
		for _, w := range []uint64{1, 2, 4, 8} {
			if head&w != 0 && !s.mv(w) {
				return false
			}
		}
	}
	if count < 64 {
		return s.tail63(count)
	}
	count -= 128
	if count < 0 {
		// 64 to 127 bytes: four pairs, loads and stores interleaved.
		if !s.ld(16) || !s.st(16) || !s.ld(16) || !s.ld(16) || !s.st(16) || !s.st(16) || !s.ld(16) || !s.st(16) {
			return false
		}
		return count&0x3f == 0 || s.tail63(count&0x3f)
	}
	// 128 bytes or more: 64 loaded ahead, then store one pair and load
	// the next, 64 bytes a round.
	for range 4 {
		if !s.ld(16) {
			return false
		}
	}
	for {
		for range 4 {
			if !s.st(16) || !s.ld(16) {
				return false
			}
		}
		if count -= 64; count < 0 {
			break
		}
	}
	for range 4 {
		if !s.st(16) {
			return false
		}
	}
	return count&0x3f == 0 || s.tail63(count&0x3f)
}

// tail63 moves count&0x30 bytes in pairs, then the tiny rest.
func (s *a64Copy) tail63(count int64) bool {
	for range (count & 0x30) >> 4 {
		if !s.mv(16) {
			return false
		}
	}
	return s.tiny15(count)
}

// tiny15 moves count's low four bits: 8, 4, 2, then 1 byte.
func (s *a64Copy) tiny15(count int64) bool {
	for _, w := range []int64{8, 4, 2, 1} {
		if count&w != 0 && !s.mv(uint64(w)) {
			return false
		}
	}
	return true
}
