// Package bench is faultline bench: fault workloads run the same way on
// the model (through the kernel API, as a scenario's statements run) and
// on the host kernel (in a process of the host executor, timed there),
// and the statistics that put the two side by side.
//
// Each workload makes a fixed number of faults per run (ops), so that
// runs on both sides are comparable; only the fault phases are timed (the
// mmap, munmap, fork and file writing around them are not), and each side
// counts the faults it took (the model's task counters, the host's
// getrusage deltas) so that an op is known to be one fault.
package bench

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// ChunkPages is how many pages a workload maps at a time (16 MiB): a run
// of more ops maps, faults and unmaps chunk after chunk. The executor's
// BENCH_CHUNK is the same.
const ChunkPages = 4096

// FaultAroundPages is fault_around_bytes' default (64 KiB) in pages: a
// read fault on a cached file maps that many pages, so file-read-cached
// loads one byte per window. The executor's BENCH_AROUND is the same.
const FaultAroundPages = 16

// DefaultOps is the faults per run of a workload unless told otherwise.
const DefaultOps = 65536

// MaxOps bounds ops (the executor's BENCH_MAX_OPS).
const MaxOps = 1 << 26

// MaxThreads bounds the threads of threads-N (the executor's BENCH_MAX_THREADS).
const MaxThreads = 64

// Kind is what a workload does.
type Kind int

// Workload kinds.
const (
	AnonWrite   Kind = iota // write faults on fresh anonymous memory (do_anonymous_page)
	CowFork                 // write faults on pages a forked child shares (do_wp_page)
	FileRead                // read faults on a cached file, one per fault-around window (do_read_fault)
	UffdMissing             // missing faults served by UFFDIO_COPY from a handler thread (handle_userfault)
	Threads                 // anonymous write faults by several threads of one process, a VMA each
	Procs                   // anonymous write faults by several single-threaded processes of one kernel
)

// Workload is one benchmark.
type Workload struct {
	Name    string // anon-write, cow-fork, file-read-cached, uffd-missing, threads-N
	Kind    Kind
	Threads int    // threads faulting at once (1 but for Threads and Procs)
	About   string // one line, for the table's legend and docs
}

// hostName is the executor's name of the workload (PROTOCOL.md, bench).
func (w Workload) hostName() string {
	switch w.Kind {
	case AnonWrite:
		return "anon-write"
	case CowFork:
		return "cow-fork"
	case FileRead:
		return "file-read-cached"
	case UffdMissing:
		return "uffd-missing"
	case Threads:
		return "threads"
	case Procs:
		return "procs"
	}
	panic(fmt.Sprintf("bench: unknown workload kind %d", w.Kind))
}

// Workloads lists the workloads in the order bench runs them: threads-1
// is the reference of the scaling of threads-N and procs-N (threads is
// N; with N = 1 only threads-1 is listed).
func Workloads(threads int) []Workload {
	ws := []Workload{
		{Name: "anon-write", Kind: AnonWrite, Threads: 1, About: "write faults on fresh anonymous memory (mmap, write every page once, munmap)"},
		{Name: "cow-fork", Kind: CowFork, Threads: 1, About: "write faults on private anonymous pages a forked child shares (copy-on-write)"},
		{Name: "file-read-cached", Kind: FileRead, Threads: 1, About: "read faults on a MAP_PRIVATE file mapping whose pages are in the page cache, one per 64 KiB fault-around window"},
		{Name: "uffd-missing", Kind: UffdMissing, Threads: 1, About: "missing faults on userfaultfd-registered anonymous memory, served by UFFDIO_COPY from a handler thread"},
		{Name: "threads-1", Kind: Threads, Threads: 1, About: "one thread writing fresh anonymous pages: the reference of threads-N and procs-N"},
	}
	if threads > 1 {
		ws = append(ws, Workload{Name: fmt.Sprintf("threads-%d", threads), Kind: Threads, Threads: threads,
			About: fmt.Sprintf("%d threads of one process, each writing fresh anonymous pages of its own VMA; ops/s of all together", threads)},
			Workload{Name: fmt.Sprintf("procs-%d", threads), Kind: Procs, Threads: threads,
				About: fmt.Sprintf("%d single-threaded processes of one kernel, each writing fresh anonymous pages; ops/s of all together", threads)})
	}
	return ws
}

// Select returns the workloads whose name re matches (all for nil).
func Select(ws []Workload, re *regexp.Regexp) []Workload {
	if re == nil {
		return ws
	}
	var out []Workload
	for _, w := range ws {
		if re.MatchString(w.Name) {
			out = append(out, w)
		}
	}
	return out
}

// Sample is one run of a workload on one side.
type Sample struct {
	Ops     uint64        // the faults asked for
	Faults  uint64        // the faults counted: minor + major
	Elapsed time.Duration // the fault phases' time
}

// Rate is the run's faults per second (ops per second), 0 for an empty run.
func (s Sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Stats summarizes the rates of several runs.
type Stats struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Summarize returns the minimum, median (the mean of the middle two for an
// even count) and maximum of xs; zero for none.
func Summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Stats{Min: s[0], Median: med, Max: s[n-1]}
}

// Ratio divides a by b field by field: how many times b's rate a's is.
// A field whose divisor is 0 is NaN.
func Ratio(a, b Stats) Stats {
	div := func(x, y float64) float64 {
		if y == 0 {
			return math.NaN()
		}
		return x / y
	}
	return Stats{Min: div(a.Min, b.Min), Median: div(a.Median, b.Median), Max: div(a.Max, b.Max)}
}

// SkipError is a workload a side cannot run, and why (a kernel feature
// missing, a privilege).
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return e.Reason }

// IsSkip reports whether err says the workload was skipped, not broken.
func IsSkip(err error) bool {
	var s *SkipError
	return errors.As(err, &s)
}

// CheckOps validates ops and threads as the command line gives them.
func CheckOps(ops uint64, threads int) error {
	switch {
	case ops == 0 || ops > MaxOps:
		return fmt.Errorf("--ops %d: want 1 to %d", ops, MaxOps)
	case threads < 1 || threads > MaxThreads:
		return fmt.Errorf("--threads %d: want 1 to %d", threads, MaxThreads)
	case ops < uint64(threads):
		return fmt.Errorf("--ops %d: fewer than --threads %d", ops, threads)
	}
	return nil
}
