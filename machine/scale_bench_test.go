package machine_test

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/arch/x86"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
)

// scalePages is each goroutine's working set: 128 pages (512 KiB of
// contents, with their page structs and PTE table) stay in one core's L2,
// so that the benchmark measures the fault core rather than the memory
// bandwidth that clearing fresh pages takes.
const scalePages = 128

// faulter is one goroutine's share of BenchmarkParallelFaults: a task and
// its own VMA.
type faulter struct {
	t    *kernel.Task
	base uint64
}

// run makes n anonymous write faults through the x86_64 trap path,
// dropping the working set (MADV_DONTNEED) each time round, as a steady
// state of faults on fresh pages: each op is one fault and its share of
// the zap.
func (f faulter) run(b *testing.B, arch *x86.Arch, n int) {
	for i := 0; i < n; i++ {
		p := uint64(i % scalePages)
		if p == 0 && i > 0 {
			if out := f.t.Madvise(f.base, scalePages<<12, kernel.MadvDontneed); out.Kind != kernel.OutOK {
				b.Errorf("dontneed: %v", out)
				return
			}
		}
		r := kernel.Regs{Addr: f.base + p<<12, Access: mm.AccessWrite, User: true, Trap: x86.TrapPF, HW: x86.PFUser | x86.PFWrite}
		if act := arch.Trap(f.t, &r); act != kernel.Restart {
			b.Errorf("trap: %v", act)
			return
		}
	}
}

// newFaulter maps t a VMA of its own and faults it in once, so that the
// page tables and page frames exist before the clock runs. The VMA
// starts a 2 MiB-aligned range of its own: faulters that shared a PTE
// table would share its split lock and its cache lines, which separate
// VMAs of a real process, far apart, do not.
func newFaulter(b *testing.B, arch *x86.Arch, t *kernel.Task) faulter {
	const huge = 2 << 20
	out := t.Mmap(kernel.MmapArgs{Length: 2 * huge, Prot: mm.ProtNone})
	if out.Kind != kernel.OutOK {
		b.Fatalf("mmap: %v", out)
	}
	base := (out.Value + huge - 1) &^ (huge - 1)
	// The rest of the reservation stays PROT_NONE: the VMA cannot merge
	// with a neighbour.
	if o := t.Mprotect(base, scalePages<<12, mm.ProtRead|mm.ProtWrite); o.Kind != kernel.OutOK {
		b.Fatalf("mprotect: %v", o)
	}
	f := faulter{t: t, base: base}
	f.run(b, arch, scalePages+1)
	return f
}

// scaleSlice is the faults each goroutine makes in one slice of
// BenchmarkParallelFaults: 16 rounds of its working set, about a
// millisecond, well under a scheduler tick, so that many slices run with
// no other thread on either CPU even on a busy machine.
const scaleSlice = 16 * scalePages

// slice is what one goroutine measured of one slice: its wall-clock
// interval and the CPU time its thread spent in it.
type slice struct {
	start, end time.Time
	cpu        time.Duration
	// quiet: the thread ran the whole slice, neither preempted nor
	// waiting for its CPU (no involuntary context switch, CPU time within
	// 2 % of the wall-clock time).
	quiet bool
}

// worker runs one goroutine's slices, on a goroutine locked to its
// thread so that the thread's CPU clock is the job's: job(n) makes n
// operations (faults, or page clears). A worker without a job holds its
// CPU, spinning, until the others are done.
type worker struct {
	job  func(n int)
	jobs chan int
	done chan slice
}

// crew is one configuration of BenchmarkParallelFaults: its workers
// start each slice together, and its slices are kept.
type crew struct {
	name    string
	workers []*worker
	ready   atomic.Int32 // the workers at the start line of the current slice
	busy    atomic.Int32 // the workers with a job still at it
	slices  []crewSlice
}

// crewSlice is one slice of a crew: the operations of all its workers,
// the interval from the first start to the last end, the CPU time of
// each worker, and whether it was quiet: every worker ran it
// undisturbed, and they started together.
type crewSlice struct {
	ops   int
	wall  time.Duration
	cpu   []time.Duration
	quiet bool
}

// rate is the slice's operations per second of wall-clock time.
func (s crewSlice) rate() float64 { return float64(s.ops) / s.wall.Seconds() }

// cpuRate is the operations per second the crew would make if each
// worker had a CPU of its own all the time: its operations over its CPU
// time, summed over the workers.
func (s crewSlice) cpuRate() float64 {
	var r float64
	for _, c := range s.cpu {
		r += float64(s.ops/len(s.cpu)) / c.Seconds()
	}
	return r
}

// newCrew starts a worker for each of jobs, which serves slices until
// stop. A crew of one job has a second worker that holds the other CPU
// (runtime.NumCPU is at least 2 here), so that one goroutine is measured
// as two are: with the machine to itself, no other program running on
// the other CPU and sharing the caches and the memory, or the core of a
// virtual machine's host, with it.
func newCrew(name string, slices int, jobs ...func(n int)) *crew {
	c := &crew{name: name, slices: make([]crewSlice, 0, slices)}
	for _, j := range jobs {
		c.workers = append(c.workers, &worker{job: j, jobs: make(chan int), done: make(chan slice)})
	}
	if len(jobs) == 1 {
		c.workers = append(c.workers, &worker{jobs: make(chan int), done: make(chan slice)})
	}
	for _, w := range c.workers {
		go c.work(w)
	}
	return c
}

// faultCrew is a crew of faulters.
func faultCrew(b *testing.B, arch *x86.Arch, name string, slices int, fs ...faulter) *crew {
	var jobs []func(int)
	for _, f := range fs {
		jobs = append(jobs, func(n int) { f.run(b, arch, n) })
	}
	return newCrew(name, slices, jobs...)
}

// clearCrew is a crew of n goroutines that each clear a ring of
// scalePages pages of their own, a page an operation: the memory traffic
// of the faults without the fault core, the hardware's own scaling.
func clearCrew(name string, slices, n int) *crew {
	var jobs []func(int)
	for range n {
		ring := make([][1 << phys.DefaultPageShift]byte, scalePages)
		jobs = append(jobs, func(n int) {
			for i := range n {
				clear(ring[i%scalePages][:])
			}
		})
	}
	return newCrew(name, slices, jobs...)
}

// work serves w's slices until its jobs channel closes. Each slice starts
// when every worker of the crew has reached the start line, spinning, so
// that none counts the others' wake-up.
func (c *crew) work(w *worker) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	all := int32(len(c.workers))
	for n := range w.jobs {
		for c.ready.Add(1); c.ready.Load() < all; {
		}
		csw0 := involuntarySwitches()
		cpu0 := threadCPU()
		start := time.Now()
		if w.job != nil {
			w.job(n)
			c.busy.Add(-1)
		} else {
			for c.busy.Load() > 0 {
			}
		}
		end := time.Now()
		cpu := threadCPU() - cpu0
		quiet := involuntarySwitches() == csw0 && float64(cpu) >= 0.98*float64(end.Sub(start))
		w.done <- slice{start: start, end: end, cpu: cpu, quiet: quiet}
	}
}

// run makes one slice of n operations per worker and keeps it.
func (c *crew) run(n int) {
	c.ready.Store(0)
	jobs := 0
	for _, w := range c.workers {
		if w.job != nil {
			jobs++
		}
	}
	c.busy.Store(int32(jobs))
	for _, w := range c.workers {
		w.jobs <- n
	}
	cs := crewSlice{ops: n * jobs, quiet: true, cpu: make([]time.Duration, 0, jobs)}
	var first, last, lastStart time.Time
	for i, w := range c.workers {
		s := <-w.done
		if i == 0 || s.start.Before(first) {
			first = s.start
		}
		if i == 0 || s.start.After(lastStart) {
			lastStart = s.start
		}
		if w.job != nil && s.end.After(last) {
			last = s.end
		}
		if w.job != nil {
			cs.cpu = append(cs.cpu, s.cpu)
		}
		cs.quiet = cs.quiet && s.quiet
	}
	cs.wall = last.Sub(first)
	// A worker that lost its CPU while it waited at the start line began
	// late: the slice was not run side by side.
	cs.quiet = cs.quiet && lastStart.Sub(first) <= cs.wall/50
	c.slices = append(c.slices, cs)
}

// stop ends the crew's workers.
func (c *crew) stop() {
	for _, w := range c.workers {
		close(w.jobs)
	}
}

// threadCPU returns the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// involuntarySwitches returns how many times the calling thread was
// preempted.
func involuntarySwitches() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		panic(err)
	}
	return ru.Nivcsw
}

// median returns the median of v (0 for none); it sorts v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// speedups returns, for each round where both c and ref were quiet, the
// ratio of c's rate to ref's, and the same of their CPU-time rates.
func speedups(c, ref *crew) (wall, cpu []float64) {
	for r, s := range c.slices {
		if o := ref.slices[r]; s.quiet && o.quiet {
			wall = append(wall, s.rate()/o.rate())
			cpu = append(cpu, s.cpuRate()/o.cpuRate())
		}
	}
	return wall, cpu
}

// BenchmarkParallelFaults measures how anonymous write faults scale with
// goroutines, on the x86_64 generic path: one goroutine faulting its own
// VMA, two threads of one process each faulting its own VMA, and two
// processes of one kernel. The goal is ≥ 1.9× one on two CPUs. One
// goroutine runs with a second one holding the other CPU, spinning, so
// that nothing else runs there and shares the machine with it. As a
// reference of what the machine itself gives at the time, one and two
// goroutines also clear a ring of scalePages pages each, the memory
// traffic of the faults without the model.
//
// b.N is each goroutine's fault count, made in slices of scaleSlice
// faults, about a millisecond. The configurations take turns slice by
// slice, in an order that rotates, so that load from elsewhere on a
// shared machine hits them alike. Each goroutine runs on a thread of its
// own and notes whether it was preempted or waited for its CPU during
// the slice; a slice in which no goroutine of its configuration was,
// and whose goroutines started together, is quiet. A configuration's
// slice is compared with the reference's of the same round, a few
// milliseconds apart: the machine's own speed drifts (clock boost, its
// host's load) by more than the effect measured over the seconds of a
// run. What is reported:
//
//   - faults/s-*: each configuration's median faults per second of
//     wall-clock time (from the first start to the last end of its
//     goroutines) over its quiet slices;
//   - speedup-threads and speedup-procs, the figures of the goal: the
//     median, over the rounds where both were quiet, of the ratio of the
//     configuration's rate to one goroutine's;
//   - speedup-*-cpu: the same with CPU-time rates, each goroutine's
//     faults over its thread's CPU time, summed: what the goroutines
//     would make each alone on a CPU, a cross-check that no wait for a
//     CPU can lower;
//   - speedup-clear: the same of the clearing goroutines, two against
//     one: the machine's scaling. Where it is well under 2 (a virtual
//     machine whose CPUs share a core of their host, or their host's
//     memory, with others), no fault core can reach 2 either;
//   - quiet-*: the share of rounds compared (for one: of its quiet
//     slices). On a busy machine few rounds are quiet: run it longer.
//
// With fewer than two CPUs two goroutines cannot run at once, and the
// benchmark says so instead of reporting a speed-up.
func BenchmarkParallelFaults(b *testing.B) {
	if n := min(runtime.GOMAXPROCS(0), runtime.NumCPU()); n < 2 {
		b.Skipf("%d CPU: two goroutines cannot fault at once, so their speed-up cannot be measured", n)
	}
	cfg := config.Default()
	arch := x86.New(cfg)
	k := kernel.New(cfg, arch)

	t1 := k.Spawn("threads")
	t2, out := t1.Clone("threads-2")
	if out.Kind != kernel.OutOK {
		b.Fatalf("clone: %v", out)
	}
	rounds := max(b.N/scaleSlice, 1)
	one := faultCrew(b, arch, "1", rounds, newFaulter(b, arch, k.Spawn("one")))
	clear1, clear2 := clearCrew("clear-1", rounds, 1), clearCrew("clear", rounds, 2)
	crews := []*crew{
		one,
		faultCrew(b, arch, "threads", rounds, newFaulter(b, arch, t1), newFaulter(b, arch, t2)),
		faultCrew(b, arch, "procs", rounds, newFaulter(b, arch, k.Spawn("proc-1")), newFaulter(b, arch, k.Spawn("proc-2"))),
		clear1, clear2,
	}
	defer func() {
		for _, c := range crews {
			c.stop()
		}
	}()

	b.ReportAllocs()
	b.ResetTimer()
	for r := range rounds {
		for i := range crews {
			crews[(r+i)%len(crews)].run(min(b.N, scaleSlice))
		}
	}
	b.StopTimer()

	var rates []float64
	for _, s := range one.slices {
		if s.quiet {
			rates = append(rates, s.rate())
		}
	}
	if len(rates) > 0 {
		b.ReportMetric(median(rates), "faults/s-1")
	}
	b.ReportMetric(float64(len(rates))/float64(rounds), "quiet-1")
	report := func(c, ref *crew, cpu bool) {
		rates = rates[:0]
		for _, s := range c.slices {
			if s.quiet {
				rates = append(rates, s.rate())
			}
		}
		if len(rates) > 0 && ref == one {
			b.ReportMetric(median(rates), "faults/s-"+c.name)
		}
		wall, cpus := speedups(c, ref)
		b.ReportMetric(float64(len(wall))/float64(rounds), "quiet-"+c.name)
		if len(wall) == 0 {
			if b.N > 1 { // not the benchmark's first, probing run
				b.Logf("%s: no round where it and its reference were both quiet: no speed-up measured (a machine too busy, or a run too short)", c.name)
			}
			return
		}
		b.ReportMetric(median(wall), "speedup-"+c.name)
		if cpu {
			b.ReportMetric(median(cpus), "speedup-"+c.name+"-cpu")
		}
	}
	report(crews[1], one, true)
	report(crews[2], one, true)
	report(clear2, clear1, false)
}

// bookkeepingBytes is how much BenchmarkPageBookkeeping faults in: 4 GiB
// of contents (1 M pages of 4 KiB).
const bookkeepingBytes = 4 << 30

// BenchmarkPageBookkeeping faults 4 GiB of anonymous pages in by a write
// each and reports the Go heap they cost beyond their contents, per page
// (B/page): the page structs, the page tables and whatever else the model
// keeps per resident page. It runs x86_64 with 4 KiB pages and arm64 with
// 16 and 64 KiB pages: the cost per page must not grow with the page
// beyond its contents. Each round builds a machine of its own, so one
// round is the measurement.
func BenchmarkPageBookkeeping(b *testing.B) {
	for _, tc := range []struct {
		name, arch string
		size       uint64
	}{{"x86_64-4k", "x86_64", 4 << 10}, {"arm64-16k", "arm64", 16 << 10}, {"arm64-64k", "arm64", 64 << 10}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := config.Default()
			cfg.PageSize = tc.size
			pages := uint64(bookkeepingBytes) / tc.size
			var perPage float64
			for i := 0; i < b.N; i++ {
				k, err := machine.New(tc.arch, cfg, machine.Generic)
				if err != nil {
					b.Fatal(err)
				}
				t := k.Spawn("bench")
				out := t.Mmap(kernel.MmapArgs{Length: bookkeepingBytes, Prot: mm.ProtRead | mm.ProtWrite})
				if out.Kind != kernel.OutOK {
					b.Fatalf("mmap: %v", out)
				}
				before := heapInUse()
				if out := t.Touch(out.Value, bookkeepingBytes, mm.AccessWrite, 1); out.Kind != kernel.OutOK {
					b.Fatalf("touch: %v", out)
				}
				after := heapInUse()
				perPage = float64(int64(after-before)-bookkeepingBytes) / float64(pages)
				if st := k.Phys().Stats(); st.InUse != int64(pages) {
					b.Fatalf("%d pages in use, want %d", st.InUse, pages)
				}
				b.StopTimer()
				k.KillAll()
				runtime.KeepAlive(t)
				b.StartTimer()
			}
			b.ReportMetric(perPage, "B/page")
		})
	}
}

// heapInUse returns the bytes of the Go heap in spans in use, after a
// collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
