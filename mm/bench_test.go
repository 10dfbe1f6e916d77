package mm_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// BenchmarkFindVMA looks up random addresses in address spaces of 10,
// 1 000 and 100 000 VMAs.
func BenchmarkFindVMA(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := newMM(b, n)
			rng := rand.New(rand.NewPCG(1, 2))
			addrs := make([]uint64, 4096)
			for i := range addrs {
				addrs[i] = testBase + rng.Uint64N(uint64(2*n-1)<<12) // below the last VMA's end
			}
			m.MmapReadLock(sched.NoSleep{}, sched.Killable)
			defer m.MmapReadUnlock()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if m.FindVMA(addrs[i&4095]) == nil {
					b.Fatal("no VMA")
				}
			}
		})
	}
}

// BenchmarkLockVMAUnderRCU is the per-VMA lock fast path of a user fault.
func BenchmarkLockVMAUnderRCU(b *testing.B) {
	m := newMM(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := m.LockVMAUnderRCU(testBase + uint64(i%1000)*2<<12)
		if v == nil {
			b.Fatal("no VMA")
		}
		v.EndRead()
	}
}

const testBase = 0x100000000

// newMM maps n one-page VMAs, each followed by a one-page hole.
func newMM(tb testing.TB, n int) *mm.MM {
	cfg := config.Default()
	cfg.MaxMapCount = uint64(n) + 1 // vm.max_map_count raised, as a sysctl would
	m := mm.New(testArch{}, &cfg, phys.NewAllocator())
	for i := 0; i < n; i++ {
		_, err := m.Mmap(sched.NoSleep{}, mm.MapRequest{Addr: testBase + uint64(i)*2<<12, Length: 1 << 12, Prot: mm.ProtRead, Flags: mm.MapFixedNoReplace})
		if err != 0 {
			tb.Fatalf("mmap %d: %v", i, err)
		}
	}
	return m
}
