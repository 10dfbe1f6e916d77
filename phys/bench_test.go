package phys_test

import (
	"testing"

	"github.com/faultline/faultline/phys"
)

// allocBatch is how many frames each iteration of BenchmarkAllocFree
// holds at once before freeing them: a working set that stays in cache.
const allocBatch = 64

// BenchmarkAllocFree allocates a frame and frees it again (one op), in
// batches of 64 held at once, with the frames' contents made beforehand
// so that each allocation clears 4 KiB as a fault's does: from the zone
// under its lock, and through a per-task cache; then the same from every
// CPU at once (RunParallel, a cache per goroutine), where the zone's lock
// is shared and the caches are not.
func BenchmarkAllocFree(b *testing.B) {
	type source func(a *phys.Allocator) func(phys.PageFlags) (*phys.Page, error)
	zone := func(a *phys.Allocator) func(phys.PageFlags) (*phys.Page, error) { return a.Alloc }
	cache := func(a *phys.Allocator) func(phys.PageFlags) (*phys.Page, error) { return a.NewCache().Alloc }
	cycle := func(b testing.TB, alloc func(phys.PageFlags) (*phys.Page, error), ps *[allocBatch]*phys.Page) {
		for i := range ps {
			p, err := alloc(phys.FlagAnon)
			if err != nil {
				b.Fatal(err)
			}
			ps[i] = p
		}
		for _, p := range ps {
			p.Put()
		}
	}
	warm := func(b testing.TB, alloc func(phys.PageFlags) (*phys.Page, error)) {
		var ps [allocBatch]*phys.Page
		for i := range ps {
			ps[i], _ = alloc(phys.FlagAnon)
			ps[i].Data()[0] = 1
		}
		for _, p := range ps {
			p.Put()
		}
	}
	for _, bc := range []struct {
		name string
		src  source
	}{{"zone", zone}, {"cache", cache}} {
		b.Run(bc.name, func(b *testing.B) {
			alloc := bc.src(phys.NewAllocator())
			warm(b, alloc)
			var ps [allocBatch]*phys.Page
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += allocBatch {
				cycle(b, alloc, &ps)
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			a := phys.NewAllocator()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				alloc := bc.src(a)
				warm(b, alloc)
				var ps [allocBatch]*phys.Page
				for pb.Next() {
					cycle(b, alloc, &ps)
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*allocBatch), "ns/frame")
		})
	}
}
