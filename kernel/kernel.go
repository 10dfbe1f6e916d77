// Package kernel models the kernel around the fault path: processes and
// threads with pending signals and handlers, user-mode and kernel-mode
// accesses, copy_to_user/copy_from_user with an exception table, and the
// few system calls scenarios make.
//
// Accesses go through the machine's Arch: it translates an address as the
// MMU does and, on a miss, runs the architecture's trap handler, which
// calls the generic fault handler and acts on its verdict. The kernel
// package never imports an architecture; an Arch is handed to New.
package kernel

import (
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
)

// Arch is one architecture: the address-space rules, the MMU and the trap
// handler.
type Arch interface {
	mm.Arch
	// Name is the architecture's Linux name ("x86_64").
	Name() string
	// RetByte is the first byte of the architecture's shortest return
	// instruction (the scenario language's `ret`).
	RetByte() byte
	// AccessOK reports whether [addr, addr+size) is a user range a
	// uaccess may touch (access_ok).
	AccessOK(addr, size uint64) bool
	// Translate is the MMU: it walks t's page tables for the access in r
	// and returns the frame, setting the accessed and dirty bits. On a
	// miss it returns nil and records the trap in r (r.Trap, r.HW).
	Translate(t *Task, r *Regs) *phys.Page
	// Trap runs the architecture's handler for the trap Translate
	// recorded, on t, and says what happens to the access.
	Trap(t *Task, r *Regs) TrapAction
	// CopyUser runs the architecture's raw_copy_to_user or
	// raw_copy_from_user (arch/*/lib) on c and returns what its exception
	// fixup reports copied, and how many user bytes it stored (a copy to
	// user memory may store past what it reports). The routines differ
	// in how close to the faulting byte they get: the count a kernel copy
	// that faults part-way returns is the arch's.
	CopyUser(c UserCopy) (copied, stored uint64)
}

// UserCopy is one call of an arch's user-copy routine.
type UserCopy struct {
	// ToUser: copy_to_user, the stores are the user side; else
	// copy_from_user, the loads are.
	ToUser bool
	// User is the user address, Kern the kernel one (only its alignment
	// matters: a page-cache page's address plus the offset in it), N the
	// length.
	User, Kern, N uint64
	// Fault is the first user address whose access faults without a
	// fixable fault: an access of [a, a+w) faults when a+w > Fault.
	// Fault >= User+N when nothing in the range faults.
	Fault uint64
}

// UserFaults reports whether a user access of w bytes at a faults in c.
func (c UserCopy) UserFaults(a, w uint64) bool { return a+w > c.Fault }

// Store is a routine's store of w bytes at addr, on the destination
// side: it reports whether it completes (only a store to user memory can
// fault), and records in stored how far, from c.User, user bytes were
// stored.
func (c UserCopy) Store(addr, w uint64, stored *uint64) bool {
	if !c.ToUser {
		return true
	}
	if c.UserFaults(addr, w) {
		return false
	}
	*stored = max(*stored, addr+w-c.User)
	return true
}

// CopyExact is the copy of a routine that reaches the faulting byte
// exactly (x86's rep movsb with its byte-wise fixup tail).
func (c UserCopy) CopyExact() (copied, stored uint64) {
	n := c.N
	if c.Fault < c.User+n {
		n = c.Fault - c.User
	}
	if !c.ToUser {
		return n, 0
	}
	return n, n
}

// Insn identifies the instruction that makes an access: user code, or one
// of the kernel's instructions, which may have an exception-table entry.
type Insn int

// Instructions.
const (
	InsnUser         Insn = iota // user code
	InsnCopyToUser               // the store of copy_to_user (has a fixup)
	InsnCopyFromUser             // the load of copy_from_user (has a fixup)
	InsnBuggyDeref               // a kernel dereference of a user pointer with no fixup
)

func (i Insn) String() string {
	switch i {
	case InsnUser:
		return "user"
	case InsnCopyToUser:
		return "copy_to_user"
	case InsnCopyFromUser:
		return "copy_from_user"
	case InsnBuggyDeref:
		return "kderef"
	}
	return "insn?"
}

// SearchExceptionTables reports whether insn has an exception-table entry
// (search_exception_tables).
func SearchExceptionTables(insn Insn) bool {
	return insn == InsnCopyToUser || insn == InsnCopyFromUser
}

// Regs describes one access and, after a miss, the trap it took: what an
// architecture's trap handler reads from pt_regs and its fault registers.
type Regs struct {
	Addr   uint64
	Access mm.Access
	User   bool // the access ran in user mode (user_mode(regs))
	Insn   Insn
	// UAccess: kernel mode with user access enabled (x86 EFLAGS.AC, riscv
	// SSTATUS.SUM), as inside a uaccess routine.
	UAccess bool
	// NoFault: page faults are disabled (pagefault_disable), or the
	// context cannot sleep.
	NoFault bool

	// Filled by Translate on a miss: the trap number and the hardware's
	// fault information (x86 error code, riscv scause).
	Trap int
	HW   uint64
}

// TrapAction is what a trap handler decided for the access.
type TrapAction int

// Trap actions.
const (
	// Restart: return and run the instruction again (after delivering any
	// signal the handler queued, for a user-mode access).
	Restart TrapAction = iota
	// Emulated: the handler completed the instruction itself (vsyscall).
	Emulated
	// Fixup: kernel mode; the exception-table entry was applied and the
	// uaccess routine reports failure.
	Fixup
	// Oops: kernel mode with no fixup; the kernel would crash.
	Oops
	// Livelock: the fault cannot make progress (the model's bound).
	Livelock
)

func (a TrapAction) String() string {
	switch a {
	case Restart:
		return "restart"
	case Emulated:
		return "emulated"
	case Fixup:
		return "fixup"
	case Oops:
		return "oops"
	case Livelock:
		return "livelock"
	}
	return "action?"
}

// Observer learns when tasks sleep and wake; the scenario runner uses it
// to tell that a statement has blocked.
type Observer interface {
	TaskBlocked(t *Task)
	TaskRunning(t *Task)
}

// Kernel is one modeled machine.
type Kernel struct {
	cfg  config.Kernel
	arch Arch
	phys *phys.Allocator
	// tracer records the tasks' fault paths (nil: off); set before any
	// task is made (SetTracer). traps counts the traps taken while it is
	// set.
	tracer *trace.Recorder
	traps  atomic.Int64

	// MaxRestarts bounds how often one access may fault and restart
	// before it is reported as a livelock.
	MaxRestarts int
	// ResumeLivelocks: a task whose access livelocked (MaxRestarts
	// restarts in a row) does not end its call there. It waits until
	// another task's call into the kernel may have changed what it
	// faults on (a page supplied, an I/O completed, a userfaultfd
	// released), then restarts again: the real task spins, and notices
	// at once. Task.Livelocked tells a scheduler it waits so. Set before
	// any task runs; the scenario runner sets it. Off, a livelock ends the
	// call at once, with the task stuck (see exitToUser).
	ResumeLivelocks bool

	// changeGen counts the calls that ended; changeEv, when a livelocked
	// task waits, is the event the next one fires (lock-free: the fault
	// path reads changeGen on every access).
	changeGen atomic.Uint64
	changeEv  atomic.Pointer[sched.Event]
	ending    atomic.Bool // KillAll began: no livelock waits for a change any more

	disk *memory.Disk
	huge *memory.HugePool

	mu     sync.Mutex // guards nextID, procs and files
	nextID int
	procs  []*Process
	files  map[string]*memory.File
	memcg  *phys.MemCG // the run's memory cgroup, once a memlimit made it

	stop     chan struct{}
	stopOnce sync.Once
	obs      Observer

	// progress counts steps the machine took: calls into the kernel,
	// traps, sleeps and wakeups. A runner that sees it advance knows the
	// model is working, not stuck, however slow the host is.
	progress atomic.Uint64

	// rules is the set of conversion rules (package arch's table, one
	// bit each) a native handler applied: where today's arch departs
	// from the generic handler. faultline diff reads it.
	rules atomic.Uint64
	// stmtRules is the same set since the last TakeRulesNoted: the
	// runner reads it statement by statement, so a rule noted again at a
	// later statement is seen there too.
	stmtRules atomic.Uint64
}

// New returns a machine with configuration cfg and architecture arch, of
// cfg's page size (4 KiB when it is not resolved: machine.New resolves it
// for the arch).
func New(cfg config.Kernel, arch Arch) *Kernel {
	alloc := phys.NewAllocatorShift(cfg.PageShift())
	if cfg.Swap >= alloc.PageSize() {
		alloc.SetSwap(phys.NewSwapDevice(cfg.Swap, alloc.PageSize()))
	}
	return &Kernel{cfg: cfg, arch: arch, phys: alloc, disk: memory.NewDisk(cfg.Version), huge: memory.NewHugePool(alloc),
		MaxRestarts: 1000, nextID: 1, stop: make(chan struct{}), files: map[string]*memory.File{}}
}

// raPages is the read-ahead window in pages: read_ahead_kb of base pages
// (bdi ra_pages = read_ahead_kb >> (PAGE_SHIFT - 10): 32 pages of 4 KiB,
// 8 of 16 KiB, 2 of 64 KiB at the default 128).
func (k *Kernel) raPages() uint64 { return k.cfg.ReadAheadKB >> (k.phys.PageShift() - 10) }

// Config returns the configuration.
func (k *Kernel) Config() *config.Kernel { return &k.cfg }

// Arch returns the architecture.
func (k *Kernel) Arch() Arch { return k.arch }

// Phys returns the page allocator.
func (k *Kernel) Phys() *phys.Allocator { return k.phys }

// Progress returns a count that advances with every call into the
// kernel, trap, sleep and wakeup of any task: while it advances, the
// machine is making progress.
func (k *Kernel) Progress() uint64 { return k.progress.Load() }

// tick records one step of progress: an increment, cheap enough for the
// fault path.
func (k *Kernel) tick() { k.progress.Add(1) }

// NoteRule records that a native fault handler took a path where today's
// architecture departs from the generic handler by the rule with this bit
// (arch.RuleID.Bit). An atomic or: cheap enough for the fault path.
func (k *Kernel) NoteRule(bit uint64) {
	k.rules.Or(bit)
	k.stmtRules.Or(bit)
}

// RulesNoted returns the rules noted so far.
func (k *Kernel) RulesNoted() uint64 { return k.rules.Load() }

// TakeRulesNoted returns the rules noted since its previous call (or
// since the machine was made) and starts the next such set empty;
// RulesNoted is unaffected.
func (k *Kernel) TakeRulesNoted() uint64 { return k.stmtRules.Swap(0) }

// SetObserver installs o; call it before any task runs.
func (k *Kernel) SetObserver(o Observer) { k.obs = o }

// Shutdown interrupts every sleep, now and later: the bound on every wait.
func (k *Kernel) Shutdown() { k.stopOnce.Do(func() { close(k.stop) }) }

func (k *Kernel) newID() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := k.nextID
	k.nextID++
	return id
}

// Spawn starts a new process with an empty address space and one task.
func (k *Kernel) Spawn(name string) *Task {
	p := &Process{k: k, PID: k.newID()}
	p.mm = mm.New(k.arch, &k.cfg, k.phys)
	t := k.newTask(p, p.PID, name)
	p.threads = []*Task{t}
	p.live = 1
	k.mu.Lock()
	k.procs = append(k.procs, p)
	k.mu.Unlock()
	return t
}

// File returns the file called name, or nil.
func (k *Kernel) File(name string) *memory.File {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.files[name]
}

// HugePool returns the pool of huge pages.
func (k *Kernel) HugePool() *memory.HugePool { return k.huge }

// ReleaseFiles deletes every file, dropping their page caches, and empties
// the huge page pool; at the end of a run, once every process has exited.
func (k *Kernel) ReleaseFiles() {
	defer k.huge.Release()
	k.mu.Lock()
	files := k.files
	k.files = map[string]*memory.File{}
	k.mu.Unlock()
	for _, f := range files {
		f.Release()
	}
}

// KillAll ends every process with SIGKILL, as at the end of a run. A
// task stuck in a livelock, which no signal ends, is ended too: the end of
// the run is the end of the machine. A livelocked task waiting for a
// change gives up and dies of the kill.
func (k *Kernel) KillAll() {
	k.ending.Store(true)
	k.mu.Lock()
	procs := append([]*Process(nil), k.procs...)
	k.mu.Unlock()
	for _, p := range procs {
		if t := p.anyLive(); t != nil {
			t.SendSignal(abi.SIGKILL)
		}
	}
	k.changed()
	for _, p := range procs {
		for _, t := range p.unstick() {
			t.finishExit()
		}
	}
}

// changed says that a call into the kernel ended, so what a livelocked
// task faults on may have changed: it wakes every task waiting in
// spinWait.
func (k *Kernel) changed() {
	k.changeGen.Add(1)
	if ev := k.changeEv.Swap(nil); ev != nil {
		ev.Fire()
	}
}

// changeGeneration returns the count of calls ended so far.
func (k *Kernel) changeGeneration() uint64 { return k.changeGen.Load() }

// unstick marks every stuck thread of p dead and returns them, for the
// caller to finish their exit without the siglock.
func (p *Process) unstick() []*Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Task
	for _, t := range p.threads {
		if t.stuck && !t.dead {
			t.stuck = false
			if p.exit == 0 {
				p.exit = abi.SIGKILL
			}
			t.exitLocked()
			out = append(out, t)
		}
	}
	return out
}
