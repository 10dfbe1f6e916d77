package kernel_test

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/kernel"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/sched"
)

// present counts the present entries of n pages from addr.
func present(task *kernel.Task, addr uint64, n int) int {
	c := 0
	for i := 0; i < n; i++ {
		tab, j := task.MM().PT.Lookup(addr + uint64(i)*pg)
		if tab != nil && tab.Load(j).Present() {
			c++
		}
	}
	return c
}

func TestMmapSyscall(t *testing.T) {
	tests := []struct {
		name    string
		args    kernel.MmapArgs
		err     abi.Errno
		present int   // pages present afterwards, of 4
		inUse   int64 // frames allocated
		flags   mm.VMFlags
	}{
		{"plain", kernel.MmapArgs{Length: 4 * pg, Prot: rw}, 0, 0, 0, mm.VMRead | mm.VMWrite},
		{"populate rw", kernel.MmapArgs{Length: 4 * pg, Prot: rw, Populate: true}, 0, 4, 4, mm.VMRead | mm.VMWrite},
		{"populate read-only", kernel.MmapArgs{Length: 4 * pg, Prot: ro, Populate: true}, 0, 4, 0, mm.VMRead},
		{"populate PROT_NONE", kernel.MmapArgs{Length: 4 * pg, Prot: mm.ProtNone, Populate: true}, 0, 0, 0, 0},
		{"locked", kernel.MmapArgs{Length: 4 * pg, Prot: rw, Locked: true}, 0, 4, 4, mm.VMRead | mm.VMWrite | mm.VMLocked},
		{"noreserve", kernel.MmapArgs{Length: 4 * pg, Prot: rw, NoReserve: true}, 0, 0, 0, mm.VMRead | mm.VMWrite | mm.VMNoReserve},
		{"shared populate", kernel.MmapArgs{Length: 4 * pg, Prot: rw, Shared: true, Populate: true}, 0, 4, 4, mm.VMRead | mm.VMWrite | mm.VMShared},
		{"growsdown", kernel.MmapArgs{Length: 4 * pg, Prot: rw, GrowsDown: true}, 0, 0, 0, mm.VMRead | mm.VMWrite | mm.VMGrowsDown},
		{"unaligned length rounds up", kernel.MmapArgs{Length: 3*pg + 1, Prot: rw, Populate: true}, 0, 4, 4, mm.VMRead | mm.VMWrite},
		{"zero length", kernel.MmapArgs{Length: 0, Prot: rw}, abi.EINVAL, 0, 0, 0},
		{"shared zero length", kernel.MmapArgs{Length: 0, Prot: rw, Shared: true}, abi.EINVAL, 0, 0, 0},
		{"fixed overlap", kernel.MmapArgs{Addr: base, Length: pg, Prot: rw, Fixed: true}, abi.EEXIST, 0, 0, 0},
		{"shared fixed overlap", kernel.MmapArgs{Addr: base, Length: pg, Prot: rw, Fixed: true, Shared: true}, abi.EEXIST, 0, 0, 0},
		{"fixed unaligned", kernel.MmapArgs{Addr: base + 8*pg + 1, Length: pg, Prot: rw, Fixed: true}, abi.EINVAL, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, task := machine(t)
			fixed(t, task, base, 1, mm.ProtNone) // something to collide with
			out := task.Mmap(tc.args)
			if tc.err != 0 {
				wantErrno(t, "mmap", out, tc.err)
				if got := k.Phys().Stats().InUse; got != 0 {
					t.Errorf("a failed mmap left %d pages", got)
				}
				return
			}
			if out.Kind != kernel.OutOK || !out.HasValue || out.Value%pg != 0 {
				t.Fatalf("mmap = %v", out)
			}
			addr := out.Value
			if got := present(task, addr, 4); got != tc.present {
				t.Errorf("%d pages present, want %d", got, tc.present)
			}
			if got := k.Phys().Stats().InUse; got != tc.inUse {
				t.Errorf("%d pages in use, want %d", got, tc.inUse)
			}
			m := task.MM()
			m.MmapReadLock(sched.NoSleep{}, sched.Killable)
			v := m.VMALookup(addr)
			m.MmapReadUnlock()
			if v == nil || v.Start != addr || v.End != addr+4*pg {
				t.Fatalf("VMA %v", v)
			}
			mask := mm.VMAccessFlags | mm.VMShared | mm.VMLocked | mm.VMNoReserve | mm.VMGrowsDown
			if v.Flags&mask != tc.flags {
				t.Errorf("flags %v, want %v", v.Flags&mask, tc.flags)
			}
		})
	}
}

func TestMunmapMprotectSyscalls(t *testing.T) {
	_, task := machine(t)
	fixed(t, task, base, 3, rw)
	wantOK(t, "write", task.Write(base+pg, 1))
	wantOK(t, "mprotect", task.Mprotect(base+pg, pg, ro))
	wantSignal(t, "write to read-only", task.Write(base+pg+8, 2), abi.SIGSEGV, abi.SEGV_ACCERR, base+pg+8)
	if out := task.Read(base + pg); out.Value != 1 {
		t.Errorf("read after mprotect = %v, want 1", out)
	}
	wantErrno(t, "mprotect unaligned", task.Mprotect(base+1, pg, ro), abi.EINVAL)
	wantOK(t, "munmap", task.Munmap(base+pg, pg))
	wantSignal(t, "read of the hole", task.Read(base+pg), abi.SIGSEGV, abi.SEGV_MAPERR, base+pg)
	wantErrno(t, "mprotect over the hole", task.Mprotect(base, 3*pg, ro), abi.ENOMEM)
	wantSignal(t, "write below the hole", task.Write(base, 3), abi.SIGSEGV, abi.SEGV_ACCERR, base)
	wantOK(t, "write above the hole", task.Write(base+2*pg, 3))
	wantErrno(t, "munmap unaligned", task.Munmap(base+1, pg), abi.EINVAL)
	wantErrno(t, "munmap of nothing", task.Munmap(base, 0), abi.EINVAL)
	wantOK(t, "munmap of a hole", task.Munmap(base+100*pg, pg))
}

func TestMadviseSyscall(t *testing.T) {
	tests := []struct {
		name    string
		prot    mm.Prot
		advice  kernel.Advice
		addr    uint64
		length  uint64
		err     abi.Errno
		present int // of the 4 pages at base afterwards
	}{
		{"populate read", rw, kernel.MadvPopulateRead, base, 4 * pg, 0, 4},
		{"populate write", rw, kernel.MadvPopulateWrite, base, 4 * pg, 0, 4},
		{"populate write on read-only", ro, kernel.MadvPopulateWrite, base, 4 * pg, abi.EINVAL, 0},
		{"populate read past the end", rw, kernel.MadvPopulateRead, base, 5 * pg, abi.ENOMEM, 4},
		{"populate zero length", rw, kernel.MadvPopulateRead, base, 0, 0, 0},
		{"populate unaligned", rw, kernel.MadvPopulateRead, base + 1, pg, abi.EINVAL, 0},
		{"dontneed", rw, kernel.MadvDontneed, base, 2 * pg, 0, 0},
		{"guard install", rw, kernel.MadvGuardInstall, base, pg, 0, 0},
		{"guard remove", rw, kernel.MadvGuardRemove, base, pg, 0, 0},
		{"random", rw, kernel.MadvRandom, base, pg, 0, 0},
		{"unknown advice", rw, kernel.Advice(99), base, pg, abi.EINVAL, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, task := machine(t)
			fixed(t, task, base, 4, tc.prot)
			out := task.Madvise(tc.addr, tc.length, tc.advice)
			if tc.err != 0 {
				wantErrno(t, "madvise", out, tc.err)
			} else {
				wantOK(t, "madvise", out)
			}
			if got := present(task, base, 4); got != tc.present {
				t.Errorf("%d pages present, want %d", got, tc.present)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{kernel.OK().String(), "ok"},
		{kernel.OKValue(0x10).String(), "ok 0x10"},
		{kernel.Err(0).String(), "ok"},
		{kernel.Err(abi.EFAULT).String(), "EFAULT"},
		{kernel.Outcome{Kind: kernel.OutSignal, Info: kernel.SigInfo{Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: 0x10}}.String(), "SIGSEGV SEGV_MAPERR @0x10"},
		{kernel.Outcome{Kind: kernel.OutSignal, Info: kernel.SigInfo{Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, Addr: 0x20, LSB: 12}}.String(), "SIGBUS BUS_MCEERR_AR @0x20 lsb=12"},
		{kernel.Outcome{Kind: kernel.OutKilled, Signal: abi.SIGKILL}.String(), "killed SIGKILL"},
		{kernel.Outcome{Kind: kernel.OutOops}.String(), "oops"},
		{kernel.Outcome{Kind: kernel.OutLivelock}.String(), "livelock"},
		{kernel.Outcome{Kind: 99}.String(), "outcome?"},
		{kernel.InsnUser.String(), "user"},
		{kernel.InsnCopyToUser.String(), "copy_to_user"},
		{kernel.InsnCopyFromUser.String(), "copy_from_user"},
		{kernel.InsnBuggyDeref.String(), "kderef"},
		{kernel.Insn(9).String(), "insn?"},
		{kernel.Restart.String(), "restart"},
		{kernel.Emulated.String(), "emulated"},
		{kernel.Fixup.String(), "fixup"},
		{kernel.Oops.String(), "oops"},
		{kernel.Livelock.String(), "livelock"},
		{kernel.TrapAction(9).String(), "action?"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
	for insn, want := range map[kernel.Insn]bool{kernel.InsnUser: false, kernel.InsnCopyToUser: true, kernel.InsnCopyFromUser: true, kernel.InsnBuggyDeref: false} {
		if got := kernel.SearchExceptionTables(insn); got != want {
			t.Errorf("SearchExceptionTables(%v) = %v, want %v", insn, got, want)
		}
	}
}

func TestMachineAccessors(t *testing.T) {
	k, task := machine(t)
	if k.Arch().Name() != "x86_64" || k.Config().ZeroPage != true || task.Kernel() != k {
		t.Errorf("accessors: arch %q zero page %v", k.Arch().Name(), k.Config().ZeroPage)
	}
	if task.Process().MM() != task.MM() || task.Process().PID != task.TID {
		t.Error("process and task disagree")
	}
	other := k.Spawn("other")
	if other.Process().PID == task.Process().PID || other.MM() == task.MM() {
		t.Error("two spawned processes share a PID or an address space")
	}
	addr := mmap(t, task, kernel.MmapArgs{Length: pg, Prot: mm.ProtRead | mm.ProtExec})
	wantOK(t, "exec", task.Exec(addr))
	if minor, _ := task.Faults(); minor != 1 {
		t.Errorf("minor faults %d after one exec fault", minor)
	}
	// The vsyscall page is emulated, not mapped: no fault is accounted.
	wantOK(t, "vsyscall", task.Exec(0xffffffffff600000))
	if minor, major := task.Faults(); minor != 1 || major != 0 {
		t.Errorf("faults %d %d after a vsyscall", minor, major)
	}
}
