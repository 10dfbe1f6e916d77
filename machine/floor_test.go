package machine_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
)

// floorRings returns how many distinct pages both halves of
// BenchmarkAnonFaultVsClear cycle through, one sub-benchmark each: the
// fault's frames come back from the allocator in the same ring each
// round, and the clear's ring has as many, so that both find the same
// caches. The first ring is sized to this machine's L2 and the second
// to be beyond its last-level cache (hostCaches); without sysfs, the
// sizes of the machine the benchmark was written on (1 MiB and 16 MiB).
func floorRings() []int {
	l2, llc, ok := hostCaches(sysCPUCache)
	if !ok {
		return []int{256, 4096}
	}
	return ringsFor(l2, llc)
}

// sysCPUCache is where Linux describes CPU 0's caches, one index*
// directory each.
const sysCPUCache = "/sys/devices/system/cpu/cpu0/cache"

// ringPageBytes is what one page of a ring occupies in the caches: its
// 4 KiB, its page struct and its PTE.
const ringPageBytes = (1 << phys.DefaultPageShift) + int64(unsafe.Sizeof(phys.Page{})) + int64(unsafe.Sizeof(pgtable.PTE(0)))

// ringsFor sizes the two rings for an L2 and a last-level cache of l2
// and llc bytes. In the cache: the most pages for which both rings, the
// fault's and the clear's, with their page structs, PTEs and the page
// table that holds these, fit in the L2 together, since the two
// alternate. Beyond: twice the last-level cache, so that every page and
// its page struct come from memory.
func ringsFor(l2, llc int64) []int {
	in := max((l2-(1<<phys.DefaultPageShift))/(2*ringPageBytes), 8)
	out := max(2*llc/(1<<phys.DefaultPageShift), 4*in)
	return []int{int(in), int(out)}
}

// hostCaches reads the sizes of the L2 and the last-level data (or
// unified) caches of CPU 0 from dir, laid out as sysfs has them
// (index*/level, type, size). It reports false when it finds no L2.
func hostCaches(dir string) (l2, llc int64, ok bool) {
	idx, _ := filepath.Glob(filepath.Join(dir, "index*"))
	last := 0
	for _, d := range idx {
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(d, name))
			return strings.TrimSpace(string(b))
		}
		level, err := strconv.Atoi(read("level"))
		if err != nil || read("type") == "Instruction" {
			continue
		}
		size, ok := parseCacheSize(read("size"))
		if !ok {
			continue
		}
		if level == 2 {
			l2 = size
		}
		if level >= last {
			last, llc = level, size
		}
	}
	return l2, llc, l2 > 0
}

// parseCacheSize reads a sysfs cache size: a number of bytes with an
// optional K, M or G suffix (binary units).
func parseCacheSize(s string) (int64, bool) {
	shift := 0
	switch {
	case strings.HasSuffix(s, "K"):
		shift = 10
	case strings.HasSuffix(s, "M"):
		shift = 20
	case strings.HasSuffix(s, "G"):
		shift = 30
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n << shift, true
}

// anonFaulter takes anonymous write faults through one machine's trap
// entry, on a region faulted in once and dropped, so that frames and
// page tables exist: the steady state.
type anonFaulter struct {
	k    *kernel.Kernel
	arch kernel.Arch
	t    *kernel.Task
	base uint64
	tmpl kernel.Regs // the trap the MMU records for a write to a missing page
	// pageInHW: the hardware word carries the page too (s390's TEID).
	pageInHW bool
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
	f := &anonFaulter{k: k, arch: k.Arch(), t: k.Spawn("bench"), pageInHW: archName == "s390x"}
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
	if f.pageInHW {
		f.r.HW = f.r.HW&0xfff | f.r.Addr
	}
	if act := f.arch.Trap(f.t, &f.r); act != kernel.Restart {
		tb.Fatalf("trap: %v", act)
	}
}

// floorRound is the most faults, and clears, of one round: a ring
// larger than that is walked in rounds of floorRound, each half in turn,
// so that the two see the same moments of a shared machine's load.
const floorRound = 64

// BenchmarkAnonFaultVsClear measures, on each modeled machine and
// handler, an anonymous write fault through the trap entry (the front
// end or native handler, handle_mm_fault, a fresh zeroed page) against
// its floor, clearing a 4 KiB page in Go over a ring of as many frames as
// the faults cycle through. The two alternate in rounds of at most
// floorRound pages within the one benchmark, so that both see the same
// load and the same caches; the ring's zap after each turn is not
// counted. ns/op is the fault alone and clear-ns/op the clear, over the
// whole run; min-ns/op and min-clear-ns/op are each half's best full
// round, per page, and x-clear their ratio: noise on a shared machine
// only ever adds time, and both halves get as many rounds to find a
// quiet one (x-clear-mean is the ratio of the whole run's means). Each
// ring size is a sub-benchmark (floorRings): one in this machine's L2,
// one beyond its last-level cache.
func BenchmarkAnonFaultVsClear(b *testing.B) {
	for _, arch := range machine.Arches() {
		for _, h := range machine.Handlers() {
			for _, pages := range floorRings() {
				b.Run(fmt.Sprintf("%s/%s/pages=%d", arch, h, pages), func(b *testing.B) {
					f := newAnonFaulter(b, arch, h, uint64(pages))
					ring := make([][1 << phys.DefaultPageShift]byte, pages)
					for i := range ring {
						ring[i][0] = 1 // every frame is backed before timing starts
					}
					round := min(pages, floorRound)
					var faultTime, clearTime time.Duration
					bestFault, bestClear := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
					b.ResetTimer()
					for done := 0; done < b.N; {
						for start := 0; start < pages && done < b.N; start += round {
							n := min(round, pages-start, b.N-done)
							t0 := time.Now()
							for i := start; i < start+n; i++ {
								f.fault(b, uint64(i))
							}
							t1 := time.Now()
							for i := start; i < start+n; i++ {
								clear(ring[i][:])
							}
							t2 := time.Now()
							faultTime += t1.Sub(t0)
							clearTime += t2.Sub(t1)
							if n == round {
								bestFault = min(bestFault, t1.Sub(t0))
								bestClear = min(bestClear, t2.Sub(t1))
							}
							done += n
						}
						f.zap(b, uint64(pages))
					}
					perOp := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }
					faultNs, clearNs := perOp(faultTime, b.N), perOp(clearTime, b.N)
					b.ReportMetric(faultNs, "ns/op")
					b.ReportMetric(clearNs, "clear-ns/op")
					if clearNs > 0 {
						b.ReportMetric(faultNs/clearNs, "x-clear-mean")
					}
					if bestClear == math.MaxInt64 {
						return // no full round: too short a run for minima
					}
					minFault, minClear := perOp(bestFault, round), perOp(bestClear, round)
					b.ReportMetric(minFault, "min-ns/op")
					b.ReportMetric(minClear, "min-clear-ns/op")
					if minClear > 0 {
						b.ReportMetric(minFault/minClear, "x-clear")
					}
				})
			}
		}
	}
}

// TestFloorRings checks the ring sizes of BenchmarkAnonFaultVsClear on
// a sysfs-like tree: the L2 and the last level found among data and
// unified caches (an instruction cache ignored), and the fallback when
// there is none.
func TestFloorRings(t *testing.T) {
	dir := t.TempDir()
	write := func(index, level, typ, size string) {
		d := filepath.Join(dir, index)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"level": level, "type": typ, "size": size} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, ok := hostCaches(dir); ok {
		t.Fatal("an empty tree has an L2")
	}
	write("index0", "1", "Data", "32K")
	write("index1", "1", "Instruction", "64K")
	write("index2", "2", "Unified", "512K")
	write("index3", "3", "Unified", "8192K")
	l2, llc, ok := hostCaches(dir)
	if !ok || l2 != 512<<10 || llc != 8<<20 {
		t.Fatalf("hostCaches = %d, %d, %v; want 512 KiB, 8 MiB, true", l2, llc, ok)
	}
	rings := ringsFor(l2, llc)
	if in := int64(rings[0]); 2*in*ringPageBytes+(1<<phys.DefaultPageShift) > l2 || 2*(in+1)*ringPageBytes+(1<<phys.DefaultPageShift) <= l2 {
		t.Errorf("in-cache ring of %d pages: not the most whose two rings fit in %d bytes", in, l2)
	}
	if out := int64(rings[1]); out*(1<<phys.DefaultPageShift) < 2*llc {
		t.Errorf("ring of %d pages is not beyond a %d-byte last-level cache", out, llc)
	}
	for s, want := range map[string]int64{"512K": 512 << 10, "1M": 1 << 20, "4096": 4096, "2G": 2 << 30, "": 0, "K": 0, "-1K": 0, "12Q": 0} {
		got, ok := parseCacheSize(s)
		if got != want || ok != (want > 0) {
			t.Errorf("parseCacheSize(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
}
