package machine_test

import (
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
)

const benchPages = 4096 // zapped and refaulted each time round

// BenchmarkUserWriteFault is one user-mode store to fresh anonymous
// memory on each modeled machine and handler: translate, trap, the front
// end, the fault handler, handle_mm_fault, translate again, store. The
// tasks carry no trace.
func BenchmarkUserWriteFault(b *testing.B) {
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			b.Run(arch+"/"+h.String(), func(b *testing.B) {
				k, err := machine.New(arch, config.Default(), h)
				if err != nil {
					b.Fatal(err)
				}
				t := k.Spawn("bench")
				out := t.Mmap(kernel.MmapArgs{Length: benchPages << 12, Prot: mm.ProtRead | mm.ProtWrite})
				if out.Kind != kernel.OutOK {
					b.Fatalf("mmap: %v", out)
				}
				base := out.Value
				zap := func() {
					if out := t.Madvise(base, benchPages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
						b.Fatalf("dontneed: %v", out)
					}
				}
				if out := t.Touch(base, benchPages<<12, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
					b.Fatalf("warm-up: %v", out)
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
					if out := t.Write(base+n<<12, 1); out.Kind != kernel.OutOK {
						b.Fatalf("write: %v", out)
					}
				}
			})
		}
	}
}
