package machine_test

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
)

// world is a machine driven by a fuzzer: tasks and the regions they mapped.
type world struct {
	t       *testing.T
	k       *kernel.Kernel
	tasks   []*kernel.Task
	regions []uint64 // region starts; lengths do not matter, faults are the point
	log     []string
}

func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	for _, l := range w.log {
		w.t.Log(l)
	}
	w.t.Fatalf(format, args...)
}

// addr picks an address near a region, or an odd one.
func (w *world) addr(b byte, off byte) uint64 {
	if len(w.regions) == 0 || b >= 0xf0 {
		return []uint64{0, 0x10, 0x7ffffffff000, 0xffffffffff600000, 0x8000000000000000}[int(off)%5]
	}
	base := w.regions[int(b)%len(w.regions)]
	return base + uint64(int64(int8(off)))<<12 + uint64(off&0xf)
}

func (w *world) task(b byte) *kernel.Task { return w.tasks[int(b)%len(w.tasks)] }

// step decodes one operation from op and args and runs it.
func (w *world) step(op byte, a [4]byte) {
	t := w.task(a[0])
	prot := mm.Prot(a[1] & 7)
	length := uint64(a[2]%8+1) << 12
	addr := w.addr(a[1], a[3])
	var out kernel.Outcome
	var what string
	switch op % 24 {
	case 0, 1:
		args := kernel.MmapArgs{Length: length, Prot: prot, Shared: a[3]&1 != 0, GrowsDown: a[3]&2 != 0, Populate: a[3]&4 != 0}
		if a[3]&8 != 0 && len(w.regions) > 0 {
			args.Fixed, args.Addr = true, w.addr(a[1], a[3]&^0xf)&^0xfff
		}
		out = t.Mmap(args)
		what = fmt.Sprintf("mmap %+v", args)
		if out.Kind == kernel.OutOK {
			w.regions = append(w.regions, out.Value)
		}
	case 2:
		what, out = fmt.Sprintf("munmap %#x %#x", addr&^0xfff, length), t.Munmap(addr&^0xfff, length)
	case 3:
		what, out = fmt.Sprintf("mprotect %#x %#x %v", addr&^0xfff, length, prot), t.Mprotect(addr&^0xfff, length, prot)
	case 4:
		adv := kernel.Advice(a[2] % 6)
		what, out = fmt.Sprintf("madvise %#x %#x %d", addr&^0xfff, length, adv), t.Madvise(addr&^0xfff, length, adv)
	case 5, 6:
		what, out = fmt.Sprintf("read %#x", addr), t.Read(addr)
		w.checkResolved(t, addr, mm.AccessRead, out)
	case 7, 8:
		what, out = fmt.Sprintf("write %#x %#x", addr, a[2]), t.Write(addr, a[2])
		w.checkResolved(t, addr, mm.AccessWrite, out)
		if out.Kind == kernel.OutOK {
			if r := t.Read(addr); r.Kind != kernel.OutOK || r.Value != uint64(a[2]) {
				w.fatalf("read back of %#x after writing %#x: %v", addr, a[2], r)
			}
		}
	case 9:
		what, out = fmt.Sprintf("exec %#x", addr), t.Exec(addr)
	case 10:
		what, out = fmt.Sprintf("kread %#x %#x", addr, length), t.KRead(addr, length, a[2])
	case 11:
		what, out = fmt.Sprintf("kwrite %#x %#x", addr, length), t.KWrite(addr, length)
	case 12:
		if len(w.tasks) < 8 {
			var nt *kernel.Task
			if a[2]&1 == 0 {
				nt, out = t.Fork(fmt.Sprint("t", len(w.tasks)))
			} else {
				nt, out = t.Clone(fmt.Sprint("t", len(w.tasks)))
			}
			what = "fork/clone"
			if nt != nil {
				w.tasks = append(w.tasks, nt)
			}
		}
	case 13:
		if victim := w.task(a[1]); victim != w.tasks[0] {
			what, out = "kill", t.Kill(victim, []abi.Signal{abi.SIGKILL, abi.SIGUSR1, abi.SIGSEGV}[a[2]%3])
		}
	case 14:
		what, out = fmt.Sprintf("touch %#x %#x", addr, length), t.Touch(addr, length, mm.Access(a[2]%2), 1)
	case 15:
		what, out = "rlimit", t.SetStackLimit(uint64(a[2])<<16)
	case 16:
		args := kernel.MmapArgs{Length: length, Prot: prot, Shared: a[3]&1 != 0, Populate: a[3]&4 != 0,
			File: fuzzFile, Off: uint64(a[2]>>4%4) << 12}
		out = t.Mmap(args)
		what = fmt.Sprintf("mmap %+v", args)
		if out.Kind == kernel.OutOK {
			w.regions = append(w.regions, out.Value)
		}
	case 17:
		size := uint64(a[2]%24)<<12 | uint64(a[3]&0x3)<<10
		what, out = fmt.Sprintf("truncate %#x", size), t.Truncate(fuzzFile, size)
	case 18:
		what, out = "evict", t.Evict(fuzzFile)
	case 19:
		size := uint64(a[2]%64+4) << 12
		what, out = fmt.Sprintf("memlimit %#x", size), t.Memlimit(size)
	case 20:
		what, out = fmt.Sprintf("madvise hwpoison %#x", addr&^0xfff), t.MadviseHWPoison(addr&^0xfff, 1<<12)
	case 21:
		args := kernel.MmapArgs{Length: 2 << 20, Prot: prot, Shared: a[3]&1 != 0, NoReserve: a[3]&2 != 0, Hugetlb: true}
		out = t.Mmap(args)
		what = fmt.Sprintf("mmap %+v", args)
		if out.Kind == kernel.OutOK {
			w.regions = append(w.regions, out.Value)
		}
	case 22:
		// Only SIGBUS-mode missing registrations: a fault never waits for
		// a resolver the fuzzer does not run.
		what = fmt.Sprintf("uffd register %#x %#x", addr&^0xfff, length)
		out = t.UffdRegister("U", addr&^0xfff, length, memory.UffdMissing, true)
	case 23:
		mode := memory.FillMode(a[2] % 5)
		if mode == memory.FillPoison+1 {
			what, out = fmt.Sprintf("uffd unregister %#x %#x", addr&^0xfff, length), t.UffdUnregister("U", addr&^0xfff, length)
		} else {
			what, out = fmt.Sprintf("uffd fill %d %#x %#x", mode, addr&^0xfff, length), t.UffdFill("U", addr&^0xfff, length, mode, a[3])
		}
	}
	w.log = append(w.log, fmt.Sprintf("%s: %v", what, out))
	w.checkInvariants()
}

// checkResolved: an access that succeeded is translated by the MMU without
// another fault (a Done verdict means the access now succeeds).
func (w *world) checkResolved(t *kernel.Task, addr uint64, acc mm.Access, out kernel.Outcome) {
	if out.Kind != kernel.OutOK || addr&^0xfff == 0xffffffffff600000 {
		return
	}
	r := kernel.Regs{Addr: addr, Access: acc, User: true}
	if w.k.Arch().Translate(t, &r) == nil {
		w.fatalf("%v of %#x succeeded but faults again", acc, addr)
	}
}

// checkInvariants: no lock is left held, the VMA index is sound, and every
// frame's map count is the number of entries mapping it.
func (w *world) checkInvariants() {
	counts := map[*phys.Page]int{}
	seen := map[*mm.MM]bool{}
	for _, t := range w.tasks {
		if dead, _ := t.Dead(); dead || seen[t.MM()] {
			continue
		}
		m := t.MM()
		seen[m] = true
		if r, wr, v := m.LockState(); r != 0 || wr || v != 0 {
			w.fatalf("locks held after an operation: readers %d writer %v VMA readers %d", r, wr, v)
		}
		if err := m.CheckVMAs(); err != nil {
			w.fatalf("%v", err)
		}
		m.MapCounts(counts)
	}
	for p, n := range counts {
		if int(p.MapCount()) != n {
			w.fatalf("page %d: map count %d, mapped by %d entries", p.PFN(), p.MapCount(), n)
		}
		if int(p.Refs()) < n {
			w.fatalf("page %d: %d references for %d mappings", p.PFN(), p.Refs(), n)
		}
	}
}

// fuzzFile is the file every world starts with.
const fuzzFile = "F"

// FuzzOperations runs random sequences of mappings (anonymous, file and
// hugetlb), accesses, kernel copies, forks and kills, truncation and
// eviction, memory limits (with and without swap), poisoning and
// userfaultfd fills on each modeled architecture and checks the model's
// invariants after every step, and that every page comes back when every
// process has exited and the files are gone.
func FuzzOperations(f *testing.F) {
	f.Add([]byte{0, 0, 3, 2, 0, 7, 0, 0, 0, 0, 5, 0, 1, 0, 0, 12, 0, 0, 0, 0, 7, 1, 0, 9, 0})
	f.Add([]byte{1, 0, 7, 7, 1, 8, 0, 0, 1, 0, 4, 0, 1, 3, 0, 10, 0, 0, 3, 0, 11, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 3, 3, 2, 0, 1, 1, 7, 3, 12, 0, 0, 0, 0, 7, 1, 0, 5, 0, 13, 0, 1, 0, 0, 5, 1, 0, 0, 0})
	f.Add([]byte{0, 0, 3, 5, 2, 14, 0, 0, 1, 0, 15, 0, 0, 1, 0, 8, 0, 0, 0xf8, 0xf0})
	f.Add([]byte{0x40, 0, 3, 7, 1, 16, 0, 3, 7, 1, 7, 1, 0, 0x41, 0, 17, 0, 0, 2, 0, 5, 1, 0, 0, 0, 18, 0, 0, 0, 0, 5, 1, 0, 1, 0})
	f.Add([]byte{0x40, 0, 3, 5, 0, 19, 0, 0, 4, 0, 14, 0, 0, 1, 0, 14, 1, 0, 1, 0, 5, 0, 0, 0, 0, 20, 0, 0, 0, 0, 5, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 3, 3, 0, 21, 0, 3, 0, 0, 7, 1, 0, 0, 0, 22, 0, 0, 2, 0, 5, 0, 0, 0, 0, 23, 0, 0, 1, 0, 5, 0, 0, 0, 0, 23, 0, 0, 3, 0, 5, 0, 0, 0, 0})
	// The native handlers, at 6.18 and 6.1.
	f.Add([]byte{0x20, 0, 3, 2, 0, 7, 0, 0, 0, 0, 5, 0, 1, 0, 0, 12, 0, 0, 0, 0, 7, 1, 0, 9, 0})
	f.Add([]byte{0x30, 0, 3, 5, 2, 14, 0, 0, 1, 0, 15, 0, 0, 1, 0, 8, 0, 0, 0xf8, 0xf0})
	f.Fuzz(fuzzOne)
}

// fuzzOne runs one input on every modeled architecture, with its native
// or its generic handler (bit 5 of the first byte), at 6.18 or 6.1 (bit 4).
func fuzzOne(t *testing.T, data []byte) {
	for _, arch := range machine.Arches() {
		cfg := config.Default()
		h := machine.Generic
		if len(data) > 0 && data[0]&0x80 != 0 {
			cfg.ZeroPage = false
		}
		if len(data) > 0 && data[0]&0x40 != 0 {
			cfg.Swap = 1 << 20
		}
		if len(data) > 0 && data[0]&0x20 != 0 {
			h = machine.Native
		}
		if len(data) > 0 && data[0]&0x10 != 0 {
			cfg.Version = config.Version{Major: 6, Minor: 1}
		}
		k, err := machine.New(arch, cfg, h)
		if err != nil {
			t.Fatal(err)
		}
		w := &world{t: t, k: k, tasks: []*kernel.Task{k.Spawn("main")}}
		if out := w.tasks[0].CreateFile(fuzzFile, 12<<12+100, 0x46); out.Kind != kernel.OutOK {
			t.Fatalf("file: %v", out)
		}
		if out := w.tasks[0].Hugepages(2); out.Kind != kernel.OutOK {
			t.Fatalf("hugepages: %v", out)
		}
		for i := 0; i+5 <= len(data) && i < 5*64; i += 5 {
			w.step(data[i], [4]byte{data[i+1], data[i+2], data[i+3], data[i+4]})
		}
		k.KillAll()
		k.ReleaseFiles()
		if st := k.Phys().Stats(); st.InUse != 0 {
			w.fatalf("%s, %s handler: %d pages in use after every process exited", arch, h, st.InUse)
		}
	}
}
