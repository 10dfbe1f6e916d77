package s390

import (
	"fmt"

	"github.com/faultline/faultline/kernel"
)

var pgmNames = map[int]string{
	PgmProtection: "protection", PgmSegmentTrans: "segment translation", PgmPageTrans: "page translation",
	PgmASCEType: "ASCE type", PgmRegion1Trans: "region-first translation",
	PgmRegion2Trans: "region-second translation", PgmRegion3Trans: "region-third translation",
}

var fsiNames = [...]string{FSIUnknown: "unknown", FSIStore: "store", FSIFetch: "fetch", 3: "reserved"}

var asNames = [...]string{ASPrimary: "primary", ASAccReg: "access-register", ASSecondary: "secondary", ASHome: "home"}

// DescribeTrap implements kernel.TrapDescriber: the program-interruption
// code and the TEID fields, as do_dat_exception and
// do_protection_exception get them.
func (a *Arch) DescribeTrap(r *kernel.Regs) (entry, detail string) {
	entry = "do_dat_exception"
	if r.Trap == PgmProtection {
		entry = "do_protection_exception"
	}
	teid := r.HW
	return entry, fmt.Sprintf("interruption code %#x (%s), TEID %#x: address %#x, fetch/store %s, bit 56 %d, bit 61 %d, %s space",
		r.Trap, pgmNames[r.Trap], teid, FaultAddress(teid), fsiNames[FSI(teid)], teid>>7&1, teid>>2&1, asNames[AS(teid)])
}
