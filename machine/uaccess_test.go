package machine_test

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
)

// TestCopyUserProperties checks every arch's copy routine over every
// alignment of both sides, lengths around each routine's thresholds and
// the fault at the range's first byte, at a page boundary inside it, or
// nowhere: what a routine
// reports copied lies within the bytes before the fault, a copy that
// faults nowhere copies (and, to user memory, stores) everything, a
// routine never stores at or past the fault, and one whose first user
// byte is accessible copies at least that byte on x86_64 and arm64 (the
// property the retry loops of read(2) and write(2) need to end).
func TestCopyUserProperties(t *testing.T) {
	const page = 4096
	for _, name := range machine.Arches() {
		for _, ver := range []config.Version{{Major: 6, Minor: 1}, {Major: 6, Minor: 18}} {
			cfg := config.Default()
			cfg.Version = ver
			k, err := machine.New(name, cfg, machine.Native)
			if err != nil {
				t.Fatal(err)
			}
			a := k.Arch()
			progress := name != "riscv64"
			for _, toUser := range []bool{false, true} {
				for before := uint64(1); before <= 300; before++ {
					for ka := uint64(0); ka < 16; ka++ {
						for _, n := range []uint64{1, 7, 15, 16, 17, 63, 64, 65, 70, 71, 72, 73, 127, 128, 129, 200, 4096} {
							// The user range starts before bytes
							// before a page boundary; a fault is at
							// its first byte, at the boundary, or
							// nowhere (page-aligned, as an access
							// error is: no aligned word straddles it).
							user := 16*page - before
							for _, fault := range []uint64{user, 16 * page, 32 * page} {
								c := kernel.UserCopy{ToUser: toUser, User: user, Kern: ka, N: n, Fault: fault}
								copied, stored := a.CopyUser(c)
								limit := min(n, fault-user)
								switch {
								case copied > limit:
									t.Fatalf("%s %v %+v: copied %d, only %d before the fault", name, ver, c, copied, limit)
								case toUser && stored > limit:
									t.Fatalf("%s %v %+v: stored %d, only %d before the fault", name, ver, c, stored, limit)
								case !toUser && stored != 0:
									t.Fatalf("%s %v %+v: a copy from user memory stored %d user bytes", name, ver, c, stored)
								case toUser && stored < copied:
									t.Fatalf("%s %v %+v: reports %d copied, stored %d", name, ver, c, copied, stored)
								case fault >= user+n && copied != n:
									t.Fatalf("%s %v %+v: no fault, copied %d", name, ver, c, copied)
								case progress && fault > user && copied == 0:
									t.Fatalf("%s %v %+v: the first byte is accessible and nothing was copied", name, ver, c)
								}
							}
						}
					}
				}
			}
		}
	}
}
