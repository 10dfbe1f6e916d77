package s390

import "github.com/faultline/faultline/kernel"

// mvcosMax is the most one MVCOS moves: a longer copy loops.
const mvcosMax = 4096

// CopyUser implements kernel.Arch: raw_copy_from_user_key and
// raw_copy_to_user_key (arch/s390/lib/uaccess.c, the same at 6.12 and in
// a post-6.16 copy). The copy is a loop of MVCOS of up to 4096 bytes, the
// user operand in the secondary space. A faulting MVCOS moves nothing;
// its fixup retries once with the length up to the next page boundary of
// the user pointer, and returns what is left when that faults too, or
// when the rest is within that page. So the count stops exactly at the
// faulting page, in both directions, and what was stored is what was
// reported.
func (a *Arch) CopyUser(c kernel.UserCopy) (copied, stored uint64) {
	u, left := c.User, c.N
	for left > 0 {
		n := min(left, mvcosMax)
		if !c.UserFaults(u, n) {
			u, left = u+n, left-n
			continue
		}
		toBoundary := (u+mvcosMax-1)&^(mvcosMax-1) - u
		if left > toBoundary && !c.UserFaults(u, toBoundary) {
			left -= toBoundary
		}
		break
	}
	copied = c.N - left
	if c.ToUser {
		stored = copied
	}
	return copied, stored
}
