package x86

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/kernel"
)

// DescribeTrap implements kernel.TrapDescriber: the entry taken and the
// page-fault error code bit by bit (X86_PF_*), as exc_page_fault gets it.
func (a *Arch) DescribeTrap(r *kernel.Regs) (entry, detail string) {
	if r.Trap == TrapGP {
		return "exc_general_protection", fmt.Sprintf("#GP: %#x is not canonical", r.Addr)
	}
	return "exc_page_fault", fmt.Sprintf("#PF at %#x, error code %#x (%s)", r.Addr, r.HW, ErrorCodeBits(r.HW))
}

// ErrorCodeBits spells a page-fault error code's bits (X86_PF_*).
func ErrorCodeBits(ec uint64) string {
	var b []string
	if ec&PFProt != 0 {
		b = append(b, "PROT")
	} else {
		b = append(b, "!PROT")
	}
	for _, f := range []struct {
		bit  uint64
		name string
	}{{PFWrite, "WRITE"}, {PFUser, "USER"}, {PFRsvd, "RSVD"}, {PFInstr, "INSTR"}, {PFPK, "PK"}} {
		if ec&f.bit != 0 {
			b = append(b, f.name)
		}
	}
	return strings.Join(b, "|")
}
