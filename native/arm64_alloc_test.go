package native_test

import (
	"testing"

	"github.com/faultline/faultline/arch/arm64"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/native"
)

// TestARM64FaultAllocs: a user write fault on fresh anonymous memory,
// through a tagged pointer, allocates nothing on either arm64 fault path
// (frames and page tables are warmed first, as the benchmarks do).
func TestARM64FaultAllocs(t *testing.T) {
	const pages = 2048
	cfg := config.Default()
	for _, tc := range []struct {
		name string
		a    kernel.Arch
	}{
		{"generic", arm64.New(cfg)},
		{"native", native.NewARM64(cfg)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kernel.New(cfg, tc.a)
			t.Cleanup(k.Shutdown)
			task := k.Spawn("a")
			out := task.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead | mm.ProtWrite})
			if out.Kind != kernel.OutOK {
				t.Fatal(out)
			}
			b := out.Value
			for range 2 {
				if out := task.Touch(b, pages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
					t.Fatal(out)
				}
				if out := task.Madvise(b, pages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
					t.Fatal(out)
				}
			}
			n := uint64(0)
			r := &kernel.Regs{} // one, as a task has its own
			allocs := testing.AllocsPerRun(pages-1, func() {
				*r = kernel.Regs{Addr: b + n<<12 | 0x12<<56, Access: mm.AccessWrite, User: true}
				n++
				if tc.a.Translate(task, r) != nil {
					t.Fatal("a fresh page translated")
				}
				if act := tc.a.Trap(task, r); act != kernel.Restart {
					t.Fatalf("trap: %v", act)
				}
				if tc.a.Translate(task, r) == nil {
					t.Fatal("the fault left no page")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per fault, want none", allocs)
			}
		})
	}
}
