package machine_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/mm"
)

// faultRing takes one kind of fault, steady state, through one machine's
// trap entry: a region whose faults were taken and undone once (frames on
// the free list, page tables and caches built), so that what a fault
// costs is its own work. Each fault is on the next page of the ring;
// once the ring is used up, reset makes it fault again.
type faultRing struct {
	k      *kernel.Kernel
	arch   kernel.Arch
	t      *kernel.Task // the faulting task
	base   uint64
	faults uint64 // faults per round
	stride uint64 // pages from one fault to the next
	acc    mm.Access
	reset  func(tb testing.TB)
	tmpl   kernel.Regs // what the MMU records for the ring's first fault
	// pageInHW: the trap's hardware word carries the faulting page too
	// (s390's TEID), so it moves with the address.
	pageInHW bool
	// r is the registers of the fault in progress: kept here, as the
	// task keeps its pt_regs, since a pointer passed through the
	// kernel.Arch interface escapes.
	r kernel.Regs
	n uint64 // the next fault of the round
}

// faultKind is one kind of fault the machines take.
type faultKind struct {
	name string
	// prepare maps a region of pages on k and readies it for its faults.
	prepare func(tb testing.TB, k *kernel.Kernel, pages uint64) *faultRing
}

func ok(tb testing.TB, what string, out kernel.Outcome) {
	tb.Helper()
	if out.Kind != kernel.OutOK {
		tb.Fatalf("%s: %v", what, out)
	}
}

// anonRing maps private anonymous memory faulted by acc (a write: a new
// zeroed page; a read: the zero page), taken and zapped once.
func anonRing(acc mm.Access) func(testing.TB, *kernel.Kernel, uint64) *faultRing {
	return func(tb testing.TB, k *kernel.Kernel, pages uint64) *faultRing {
		t := k.Spawn("faulter")
		out := t.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead | mm.ProtWrite})
		ok(tb, "mmap", out)
		f := &faultRing{t: t, base: out.Value, faults: pages, stride: 1, acc: acc}
		f.reset = func(tb testing.TB) {
			ok(tb, "madvise", f.t.Madvise(f.base, pages<<12, kernel.MadvDontneed))
		}
		ok(tb, "warm-up", t.Touch(f.base, pages<<12, acc, 1))
		f.reset(tb)
		return f
	}
}

// cowRing maps private anonymous memory written by a parent, and forks:
// the child's writes copy the pages (do_wp_page, wp_page_copy). Each
// round is a new child; the last one is killed, its copies freed.
func cowRing(tb testing.TB, k *kernel.Kernel, pages uint64) *faultRing {
	parent := k.Spawn("parent")
	out := parent.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead | mm.ProtWrite})
	ok(tb, "mmap", out)
	base := out.Value
	ok(tb, "populate", parent.Touch(base, pages<<12, mm.AccessWrite, 1))
	f := &faultRing{base: base, faults: pages, stride: 1, acc: mm.AccessWrite}
	f.reset = func(tb testing.TB) {
		if f.t != nil {
			ok(tb, "kill", parent.Kill(f.t, abi.SIGKILL))
		}
		child, out := parent.Fork("child")
		ok(tb, "fork", out)
		f.t = child
	}
	f.reset(tb)
	ok(tb, "warm-up", f.t.Touch(base, pages<<12, mm.AccessWrite, 2))
	f.reset(tb)
	return f
}

// fileRing maps a cached file for reading: a read fault maps the cached
// page and fault-around the cached pages of its 16-page window
// (do_read_fault, do_fault_around), so the ring faults every 16th page.
func fileRing(tb testing.TB, k *kernel.Kernel, pages uint64) *faultRing {
	t := k.Spawn("reader")
	ok(tb, "file", t.CreateFile("F", pages<<12, 0x5a))
	out := t.Mmap(kernel.MmapArgs{Length: pages << 12, Prot: mm.ProtRead, File: "F"})
	ok(tb, "mmap", out)
	f := &faultRing{t: t, base: out.Value, faults: pages / 16, stride: 16, acc: mm.AccessRead}
	f.reset = func(tb testing.TB) {
		ok(tb, "madvise", f.t.Madvise(f.base, pages<<12, kernel.MadvDontneed))
	}
	ok(tb, "warm-up", t.Touch(f.base, pages<<12, mm.AccessRead, 0))
	f.reset(tb)
	return f
}

var faultKinds = []faultKind{
	{"anon-write", anonRing(mm.AccessWrite)},
	{"anon-read", anonRing(mm.AccessRead)}, // the zero page
	{"cow", cowRing},
	{"file-read", fileRing}, // the page cached
}

// newFaultRing builds machine arch with handler h and a ring of kind.
func newFaultRing(tb testing.TB, arch string, h machine.Handler, kind faultKind, pages uint64) *faultRing {
	tb.Helper()
	k, err := machine.New(arch, config.Default(), h)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Shutdown)
	f := kind.prepare(tb, k, pages)
	f.k, f.arch = k, k.Arch()
	f.pageInHW = arch == "s390x"
	f.tmpl = kernel.Regs{Addr: f.base, Access: f.acc, User: true, Insn: kernel.InsnUser}
	if f.arch.Translate(f.t, &f.tmpl) != nil {
		tb.Fatalf("%s: the ring's first page translates before its fault", kind.name)
	}
	return f
}

// fault takes the ring's next fault through the trap entry, as
// exc_page_fault (do_mem_abort, handle_page_fault) is entered after the
// MMU's miss. The round must not be used up.
func (f *faultRing) fault(tb testing.TB) {
	f.r = f.tmpl
	f.r.Addr = f.base + f.n*f.stride<<12
	if f.pageInHW {
		f.r.HW = f.r.HW&0xfff | f.r.Addr
	}
	if act := f.arch.Trap(f.t, &f.r); act != kernel.Restart {
		tb.Fatalf("trap at %#x: %v", f.r.Addr, act)
	}
	f.n++
}

// round starts a new round: the ring faults again from its first page.
func (f *faultRing) round(tb testing.TB) {
	f.reset(tb)
	f.n = 0
}

// check verifies that the ring's faults were resolved: every page
// faulted this round now translates for the access.
func (f *faultRing) check(tb testing.TB) {
	tb.Helper()
	for i := uint64(0); i < f.n; i++ {
		r := kernel.Regs{Addr: f.base + i*f.stride<<12, Access: f.acc, User: true, Insn: kernel.InsnUser}
		if f.arch.Translate(f.t, &r) == nil {
			tb.Fatalf("page %d at %#x does not translate after its fault", i, r.Addr)
		}
	}
}
