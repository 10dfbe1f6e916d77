package native_test

import (
	"testing"

	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/native"
)

const benchPages = 4096 // 16 MiB: the region is zapped and refaulted each time round

// faulter is a native x86_64 machine with a region faulted in once and
// dropped, so that frames and page tables exist: the steady state.
type faulter struct {
	a    *native.X86
	t    *kernel.Task
	base uint64
	n    uint64
}

func newFaulter(tb testing.TB, v config.Version) *faulter {
	tb.Helper()
	cfg := config.Default()
	cfg.Version = v
	a := native.NewX86(cfg)
	k := kernel.New(cfg, a)
	tb.Cleanup(k.Shutdown)
	t := k.Spawn("bench")
	out := t.Mmap(kernel.MmapArgs{Length: benchPages << 12, Prot: mm.ProtRead | mm.ProtWrite})
	if out.Kind != kernel.OutOK {
		tb.Fatalf("mmap: %v", out)
	}
	f := &faulter{a: a, t: t, base: out.Value}
	if out := t.Touch(f.base, benchPages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
		tb.Fatalf("warm-up: %v", out)
	}
	f.zap(tb)
	return f
}

func (f *faulter) zap(tb testing.TB) {
	if out := f.t.Madvise(f.base, benchPages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
		tb.Fatalf("dontneed: %v", out)
	}
}

// fault takes one write fault on the next fresh page through the native
// trap entry.
func (f *faulter) fault(tb testing.TB) {
	r := kernel.Regs{Addr: f.base + f.n<<12, Access: mm.AccessWrite, User: true, Trap: x86.TrapPF, HW: x86.PFUser | x86.PFWrite}
	if act := f.a.Trap(f.t, &r); act != kernel.Restart {
		tb.Fatalf("trap: %v", act)
	}
	f.n++
}

// BenchmarkX86AnonWriteFault faults a fresh anonymous page in by a write,
// through the native x86_64 handler and handle_mm_fault: under the VMA
// lock at 6.18, under the mmap lock at 6.1.
func BenchmarkX86AnonWriteFault(b *testing.B) {
	for _, v := range versions {
		b.Run(v.String(), func(b *testing.B) {
			f := newFaulter(b, v)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if f.n == benchPages {
					b.StopTimer()
					f.zap(b)
					f.n = 0
					b.StartTimer()
				}
				f.fault(b)
			}
		})
	}
}

// TestX86FaultDoesNotAllocate: the native fault path allocates nothing
// in the steady state, at either version.
func TestX86FaultDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	for _, v := range versions {
		f := newFaulter(t, v)
		if n := testing.AllocsPerRun(1000, func() { f.fault(t) }); n != 0 {
			t.Errorf("%v: %v allocations per fault", v, n)
		}
	}
}
