package fault

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

const benchPages = 4096 // zapped and refaulted each time round

// BenchmarkHandleAnonWrite is the generic handler resolving a write to
// fresh anonymous memory under the per-VMA lock, with the real
// handle_mm_fault: the fault path with tracing off.
func BenchmarkHandleAnonWrite(b *testing.B) {
	cfg := config.Default()
	m := mm.New(testArch{}, &cfg, phys.NewAllocator())
	s := sched.NoSleep{}
	if _, err := m.Mmap(s, mm.MapRequest{Addr: base, Length: benchPages << 12, Prot: mm.ProtRead | mm.ProtWrite, Flags: mm.MapFixedNoReplace}); err != 0 {
		b.Fatal(err)
	}
	h := &Handler{Arch: policy{}, Resolve: memory.HandleMMFault, MaxRetries: 10}
	tk := &task{m: m}
	zap := func() {
		if err := m.Madvise(s, base, benchPages<<12, mm.AdviceDontneed); err != 0 {
			b.Fatal(err)
		}
	}
	for i := uint64(0); i < benchPages; i++ { // page tables and frames exist: the steady state
		h.Handle(tk, Request{Addr: base + i<<12, Access: mm.AccessWrite, User: true})
	}
	zap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := uint64(i % benchPages)
		if n == 0 && i > 0 {
			b.StopTimer()
			zap()
			b.StartTimer()
		}
		if res := h.Handle(tk, Request{Addr: base + n<<12, Access: mm.AccessWrite, User: true}); res.Verdict != Done {
			b.Fatalf("verdict %v", res.Verdict)
		}
	}
}
