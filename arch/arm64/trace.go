package arm64

import (
	"fmt"

	"github.com/faultline/faultline/kernel"
)

var ecNames = map[int]string{
	ECIAbtLow: "IABT_LOW", ECIAbtCur: "IABT_CUR", ECDAbtLow: "DABT_LOW", ECDAbtCur: "DABT_CUR",
}

var fscNames = map[uint64]string{FSCTrans: "translation", FSCAccess: "access flag", FSCPerm: "permission"}

// DescribeTrap implements kernel.TrapDescriber: the abort's ESR fields
// (EC, WnR, CM, DFSC/IFSC with its level) and FAR, as do_mem_abort gets
// them.
func (a *Arch) DescribeTrap(r *kernel.Regs) (entry, detail string) {
	esr := r.HW
	wnr := 0
	if esr&ESRWnR != 0 {
		wnr = 1
	}
	return "do_mem_abort", fmt.Sprintf("FAR %#x, ESR %#x: EC %#x (%s), WnR %d, FSC %#x (%s fault, level %d)",
		r.Addr, esr, EC(esr), ecNames[EC(esr)], wnr, esr&ESRFSC, fscNames[FSCType(esr)], FSCLevel(esr))
}
