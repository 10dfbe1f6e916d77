package x86_test

import (
	"testing"

	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
)

const benchPages = 16384 // 64 MiB: the region is zapped and refaulted each time round

// BenchmarkAnonWriteFault faults a fresh anonymous page in by a write,
// through the x86_64 trap entry, the generic handler and handle_mm_fault.
func BenchmarkAnonWriteFault(b *testing.B) {
	cfg := config.Default()
	arch := x86.New(cfg)
	k := kernel.New(cfg, arch)
	t := k.Spawn("bench")
	out := t.Mmap(kernel.MmapArgs{Length: benchPages << 12, Prot: mm.ProtRead | mm.ProtWrite})
	if out.Kind != kernel.OutOK {
		b.Fatalf("mmap: %v", out)
	}
	base := out.Value
	warm(b, t, base)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := uint64(i % benchPages)
		if n == 0 && i > 0 {
			b.StopTimer()
			if out := t.Madvise(base, benchPages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
				b.Fatalf("dontneed: %v", out)
			}
			b.StartTimer()
		}
		r := kernel.Regs{Addr: base + n<<12, Access: mm.AccessWrite, User: true, Trap: x86.TrapPF, HW: x86.PFUser | x86.PFWrite}
		if act := arch.Trap(t, &r); act != kernel.Restart {
			b.Fatalf("trap: %v", act)
		}
	}
}

// BenchmarkUserWrite is one user-mode store to fresh anonymous memory, as
// a task makes it: translate, fault, translate again, store.
func BenchmarkUserWrite(b *testing.B) {
	cfg := config.Default()
	k := kernel.New(cfg, x86.New(cfg))
	t := k.Spawn("bench")
	out := t.Mmap(kernel.MmapArgs{Length: benchPages << 12, Prot: mm.ProtRead | mm.ProtWrite})
	base := out.Value
	warm(b, t, base)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := uint64(i % benchPages)
		if n == 0 && i > 0 {
			b.StopTimer()
			t.Madvise(base, benchPages<<12, kernel.MadvDontneed)
			b.StartTimer()
		}
		if out := t.Write(base+n<<12, 1); out.Kind != kernel.OutOK {
			b.Fatalf("write: %v", out)
		}
	}
}

// warm faults the region in once and drops it, so that page frames and
// page tables exist: the benchmark then measures the steady state, where
// the allocator reuses freed frames as the kernel's does.
func warm(b *testing.B, t *kernel.Task, base uint64) {
	b.Helper()
	if out := t.Touch(base, benchPages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
		b.Fatalf("warm-up: %v", out)
	}
	if out := t.Madvise(base, benchPages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
		b.Fatalf("dontneed: %v", out)
	}
}
