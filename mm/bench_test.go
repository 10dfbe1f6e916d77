package mm_test

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
)

// vmaCounts are the address-space sizes the index benchmarks compare: the
// last against the first is the ratio they report.
var vmaCounts = []int{10, 1000, 100000}

// ratioBench runs body as one sub-benchmark per VMA count and reports, on
// the largest, its time per operation divided by the smallest's, measured
// in the same run ("x-vs-10").
func ratioBench(b *testing.B, body func(b *testing.B, n int)) {
	perOp := map[int]float64{}
	for _, n := range vmaCounts {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			body(b, n)
			b.StopTimer()
			perOp[n] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if last := vmaCounts[len(vmaCounts)-1]; n == last && perOp[vmaCounts[0]] > 0 {
				b.ReportMetric(perOp[n]/perOp[vmaCounts[0]], fmt.Sprintf("x-vs-%d", vmaCounts[0]))
			}
		})
	}
}

// BenchmarkFindVMA looks up random addresses in address spaces of 10,
// 1 000 and 100 000 VMAs, under the mmap read lock.
func BenchmarkFindVMA(b *testing.B) {
	ratioBench(b, func(b *testing.B, n int) {
		m := newMM(b, n)
		addrs := randomAddrs(n)
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

// BenchmarkFindSortedSlice is BenchmarkFindVMA's reference: the same
// lookups as a branch-free binary search of a sorted []uint64 of the VMA
// ends, the densest index there is, with no value to fetch. At 100 000
// its 800 KB outgrow this machine's 512 KiB L2 as the index does: what
// its ratio shows is what the memory allows a random lookup.
func BenchmarkFindSortedSlice(b *testing.B) {
	ratioBench(b, func(b *testing.B, n int) {
		ends := make([]uint64, n)
		for i := range ends {
			ends[i] = testBase + uint64(i)*2<<12 + 1<<12
		}
		addrs := randomAddrs(n)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if searchAbove(ends, addrs[i&4095]) == len(ends) {
				b.Fatal("no VMA")
			}
		}
	})
}

// searchAbove returns the index of the first of ks above x, or len(ks),
// halving the range by arithmetic on a borrow rather than a branch.
func searchAbove(ks []uint64, x uint64) int {
	lo, n := 0, len(ks)
	for n > 1 {
		half := n / 2
		_, above := bits.Sub64(x, ks[lo+half-1], 0) // 1 when the key is above x
		lo += half & (int(above) - 1)
		n -= half
	}
	if n == 1 {
		_, above := bits.Sub64(x, ks[lo], 0)
		lo += 1 - int(above)
	}
	return lo
}

// BenchmarkFindVMALocal looks up addresses with a fault's locality: 64
// successive lookups in one VMA before moving to another at random.
func BenchmarkFindVMALocal(b *testing.B) {
	ratioBench(b, func(b *testing.B, n int) {
		m := newMM(b, n)
		addrs := randomAddrs(n)
		m.MmapReadLock(sched.NoSleep{}, sched.Killable)
		defer m.MmapReadUnlock()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if m.FindVMA(addrs[(i>>6)&4095]) == nil {
				b.Fatal("no VMA")
			}
		}
	})
}

// BenchmarkFindVMACachedLocal is BenchmarkFindVMALocal through a task's
// VMACache, as a fault path that has one would look up.
func BenchmarkFindVMACachedLocal(b *testing.B) {
	ratioBench(b, func(b *testing.B, n int) {
		m := newMM(b, n)
		addrs := randomAddrs(n)
		var c mm.VMACache
		m.MmapReadLock(sched.NoSleep{}, sched.Killable)
		defer m.MmapReadUnlock()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if m.FindVMACached(&c, addrs[(i>>6)&4095]) == nil {
				b.Fatal("no VMA")
			}
		}
	})
}

// BenchmarkLockVMAUnderRCULocal is the per-VMA lock fast path of user
// faults with locality (64 in one VMA, then another at random), without
// and with a task's VMACache.
func BenchmarkLockVMAUnderRCULocal(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "snapshot"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			ratioBench(b, func(b *testing.B, n int) {
				m := newMM(b, n)
				rng := rand.New(rand.NewPCG(5, 6))
				addrs := make([]uint64, 4096)
				for i := range addrs {
					addrs[i] = testBase + rng.Uint64N(uint64(n))*2<<12 // in a VMA
				}
				var c mm.VMACache
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					a := addrs[(i>>6)&4095]
					var v *mm.VMA
					if cached {
						v = m.LockVMAUnderRCUCached(&c, a)
					} else {
						v = m.LockVMAUnderRCU(a)
					}
					if v == nil {
						b.Fatal("no VMA")
					}
					v.EndRead()
				}
			})
		})
	}
}

// randomAddrs returns 4096 random addresses below the last VMA's end of
// an address space made by newMM(n).
func randomAddrs(n int) []uint64 {
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]uint64, 4096)
	for i := range addrs {
		addrs[i] = testBase + rng.Uint64N(uint64(2*n-1)<<12)
	}
	return addrs
}

// BenchmarkMmapMunmap maps one page and unmaps it again, each a system
// call of its own that takes and releases the mmap write lock (so the
// lockless snapshot is published twice per operation), in address spaces
// of 10, 1 000 and 100 000 VMAs. "top": mmap(NULL) places the page below
// mmap_base, above every VMA; "hole": MAP_FIXED_NOREPLACE into a random
// one-page hole between two VMAs, with a protection that does not merge.
func BenchmarkMmapMunmap(b *testing.B) {
	b.Run("top", func(b *testing.B) {
		ratioBench(b, func(b *testing.B, n int) {
			m := newMM(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := m.Mmap(sched.NoSleep{}, mm.MapRequest{Length: 1 << 12, Prot: mm.ProtRead | mm.ProtWrite})
				if err != 0 {
					b.Fatal(err)
				}
				if err := m.Munmap(sched.NoSleep{}, a, 1<<12); err != 0 {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("hole", func(b *testing.B) {
		ratioBench(b, func(b *testing.B, n int) {
			m := newMM(b, n)
			rng := rand.New(rand.NewPCG(3, 4))
			holes := make([]uint64, 4096)
			for i := range holes {
				holes[i] = testBase + (2*rng.Uint64N(uint64(n-1))+1)<<12
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a := holes[i&4095]
				if _, err := m.Mmap(sched.NoSleep{}, mm.MapRequest{Addr: a, Length: 1 << 12, Prot: mm.ProtRead | mm.ProtWrite, Flags: mm.MapFixedNoReplace}); err != 0 {
					b.Fatal(err)
				}
				if err := m.Munmap(sched.NoSleep{}, a, 1<<12); err != 0 {
					b.Fatal(err)
				}
			}
		})
	})
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
	cfg.MaxMapCount = uint64(n) + 2 // vm.max_map_count raised, as a sysctl would
	m := mm.New(testArch{}, &cfg, phys.NewAllocator())
	for i := 0; i < n; i++ {
		_, err := m.Mmap(sched.NoSleep{}, mm.MapRequest{Addr: testBase + uint64(i)*2<<12, Length: 1 << 12, Prot: mm.ProtRead, Flags: mm.MapFixedNoReplace})
		if err != 0 {
			tb.Fatalf("mmap %d: %v", i, err)
		}
	}
	return m
}
