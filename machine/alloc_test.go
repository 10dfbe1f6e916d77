package machine_test

import (
	"testing"

	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

// TestAnonFaultDoesNotAllocate: an anonymous write fault through the
// x86_64 trap path, the generic handler and the page allocator allocates
// no Go memory in the steady state, in the root memory cgroup and in a
// limited one (the page cache of the task, the charge).
func TestAnonFaultDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	const pages = 2048
	for _, limited := range []bool{false, true} {
		cfg := config.Default()
		arch := x86.New(cfg)
		k := kernel.New(cfg, arch)
		task := k.Spawn("t")
		if limited {
			if out := task.Memlimit(4 * pages << 12); out.Kind != kernel.OutOK {
				t.Fatalf("memlimit: %v", out)
			}
		}
		out := task.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead | mm.ProtWrite})
		if out.Kind != kernel.OutOK {
			t.Fatalf("mmap: %v", out)
		}
		base := out.Value
		if out := task.Touch(base, pages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
			t.Fatalf("touch: %v", out)
		}
		if out := task.Madvise(base, pages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
			t.Fatalf("dontneed: %v", out)
		}
		n := uint64(0)
		allocs := testing.AllocsPerRun(pages-1, func() {
			r := kernel.Regs{Addr: base + n<<12, Access: mm.AccessWrite, User: true, Trap: x86.TrapPF, HW: x86.PFUser | x86.PFWrite}
			if act := arch.Trap(task, &r); act != kernel.Restart {
				t.Fatalf("trap: %v", act)
			}
			n++
		})
		if allocs != 0 {
			t.Errorf("limited=%v: %v Go allocations per fault, want 0", limited, allocs)
		}
	}
}
