package mm_test

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkLockVMAUnderRCUScaling is the per-VMA lock fast path run by 1
// and by 2 goroutines at once, each in a VMA of its own of one address
// space: nothing they write is shared, so 2 should do twice the work in
// the same time. Each sub-benchmark's op is one lookup, lock and unlock by
// every goroutine; the 2-goroutine one reports its throughput against the
// 1-goroutine one measured in the same run ("x-vs-1").
func BenchmarkLockVMAUnderRCUScaling(b *testing.B) {
	perOp := map[int]float64{}
	for _, g := range []int{1, 2} {
		b.Run(fmt.Sprint(g), func(b *testing.B) {
			m := newMM(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					addr := testBase + uint64(w)*512*2<<12 // VMAs far apart
					for i := 0; i < b.N; i++ {
						v := m.LockVMAUnderRCU(addr)
						if v == nil {
							b.Error("no VMA")
							return
						}
						v.EndRead()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			perOp[g] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if g == 2 && perOp[1] > 0 {
				b.ReportMetric(2*perOp[1]/perOp[2], "x-vs-1")
			}
		})
	}
}
