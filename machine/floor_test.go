package machine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
)

// floorPages is how many distinct pages both halves of
// BenchmarkAnonFaultVsClear cycle through: the fault's frames come back
// from the allocator in the same ring each round, and the clear's ring
// has as many, so that both find the same caches.
var floorRings = []int{256, 4096} // 1 MiB, in L2; 16 MiB, beyond it

// anonFaulter takes anonymous write faults through one machine's trap
// entry, on a region faulted in once and dropped, so that frames and
// page tables exist: the steady state.
type anonFaulter struct {
	k    *kernel.Kernel
	arch kernel.Arch
	t    *kernel.Task
	base uint64
	tmpl kernel.Regs // the trap the MMU records for a write to a missing page
	// r is the registers of the fault in progress: kept here, as the
	// task keeps its pt_regs, since a pointer passed through the
	// kernel.Arch interface escapes.
	r kernel.Regs
}

func newAnonFaulter(tb testing.TB, archName string, h machine.Handler, pages uint64) *anonFaulter {
	tb.Helper()
	k, err := machine.New(archName, config.Default(), h)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Shutdown)
	f := &anonFaulter{k: k, arch: k.Arch(), t: k.Spawn("bench")}
	out := f.t.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead | mm.ProtWrite})
	if out.Kind != kernel.OutOK {
		tb.Fatalf("mmap: %v", out)
	}
	f.base = out.Value
	if out := f.t.Touch(f.base, pages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
		tb.Fatalf("warm-up: %v", out)
	}
	f.zap(tb, pages)
	// What the hardware reports for this fault: the arch's MMU fills in
	// the trap number and its fault information (error code, ESR, scause).
	f.tmpl = kernel.Regs{Addr: f.base, Access: mm.AccessWrite, User: true, Insn: kernel.InsnUser}
	if f.arch.Translate(f.t, &f.tmpl) != nil {
		tb.Fatal("a dropped page still translates")
	}
	return f
}

func (f *anonFaulter) zap(tb testing.TB, pages uint64) {
	if out := f.t.Madvise(f.base, pages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
		tb.Fatalf("dontneed: %v", out)
	}
}

// fault takes the write fault on page n of the region: the trap entry,
// the front end, the fault handler and handle_mm_fault, as
// exc_page_fault is entered after the MMU's miss.
func (f *anonFaulter) fault(tb testing.TB, n uint64) {
	f.r = f.tmpl
	f.r.Addr = f.base + n<<12
	if act := f.arch.Trap(f.t, &f.r); act != kernel.Restart {
		tb.Fatalf("trap: %v", act)
	}
}

// BenchmarkAnonFaultVsClear measures, on each modeled machine and
// handler, an anonymous write fault through the trap entry (the front
// end or native handler, handle_mm_fault, a fresh zeroed page) against
// its floor, clearing a 4 KiB page in Go over a ring of as many frames as
// the faults cycle through. The two alternate in rounds of one ring
// within the one benchmark, so that both see the same load and the same
// caches: ns/op is the fault alone (the ring's zap between rounds is not
// counted), clear-ns/op the clear, x-clear their ratio. Each ring size
// is a sub-benchmark: 256 pages stay in this machine's L2, 4096 do not.
func BenchmarkAnonFaultVsClear(b *testing.B) {
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			for _, pages := range floorRings {
				b.Run(fmt.Sprintf("%s/%s/pages=%d", arch, h, pages), func(b *testing.B) {
					f := newAnonFaulter(b, arch, h, uint64(pages))
					ring := make([][phys.PageSize]byte, pages)
					for i := range ring {
						ring[i][0] = 1 // every frame is backed before timing starts
					}
					var faultTime, clearTime time.Duration
					b.ResetTimer()
					for done := 0; done < b.N; {
						n := min(b.N-done, pages)
						t0 := time.Now()
						for i := range n {
							f.fault(b, uint64(i))
						}
						t1 := time.Now()
						f.zap(b, uint64(pages))
						t2 := time.Now()
						for i := range n {
							clear(ring[i][:])
						}
						t3 := time.Now()
						faultTime += t1.Sub(t0)
						clearTime += t3.Sub(t2)
						done += n
					}
					faultNs := float64(faultTime.Nanoseconds()) / float64(b.N)
					clearNs := float64(clearTime.Nanoseconds()) / float64(b.N)
					b.ReportMetric(faultNs, "ns/op")
					b.ReportMetric(clearNs, "clear-ns/op")
					if clearNs > 0 {
						b.ReportMetric(faultNs/clearNs, "x-clear")
					}
				})
			}
		}
	}
}
