package lockcount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// release is what the child spins on until the parent, its threads all
// stopped, writes 1 into it.
var release atomic.Uint64

// maxSteps bounds one counted run, and the steps to reach Start: a run
// past it is reported as an error, not counted.
const maxSteps = 5_000_000

// Serve is the child's side: on a goroutine locked to its OS thread, it
// runs warm, reports the thread and the markers to the parent on file
// descriptor 3, waits to be released, and calls Start, body and End, the
// part the parent single-steps. warm should run body's work often enough
// that nothing in body is a first time (stack growth, lazily built
// state).
func Serve(warm, body func()) error {
	out := os.NewFile(3, "lockcount")
	if out == nil {
		return errors.New("lockcount: no report descriptor: not started by Run")
	}
	defer out.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		warm()
		_, err := fmt.Fprintf(out, "%d %#x %#x %#x\n", unix.Gettid(), pcOf(Start), pcOf(End), uintptr(unsafe.Pointer(&release)))
		if err != nil {
			done <- err
			return
		}
		for release.Load() == 0 {
			// Spins rather than blocks: the parent stops the thread here
			// and has only a few instructions to step to Start.
		}
		Start()
		body()
		End()
		done <- nil
	}()
	return <-done
}

// Run re-executes the running test binary as a child with args (a
// -test.run pattern selecting the test that calls Serve) and EnvChild set
// to name, and counts what the child's body executes. out receives the
// child's output.
func Run(name string, args []string, out io.Writer) (*Report, error) {
	for try := 1; ; try++ {
		rep, err := run(name, args, out)
		if !errors.Is(err, errPreempted) || try == 3 {
			return rep, err
		}
	}
}

// errPreempted: the stepped goroutine was preempted (sysmon asked, in
// the instants before the tracer stopped it, a goroutine that ran 10 ms
// to yield): its thread would wait for another to hand it back, and
// those are stopped. The run is abandoned, its threads let go, and Run
// tries again in a new child.
var errPreempted = errors.New("lockcount: the stepped goroutine was preempted")

func run(name string, args []string, out io.Writer) (*Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), EnvChild+"="+name, "GOGC=off", "GODEBUG=asyncpreemptoff=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	w.Close()
	// A safety net, not a measurement: a child that stops answering (a
	// thread blocked on one the tracer holds stopped) is killed, which
	// ends the tracer's wait with an error.
	killer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer killer.Stop()
	rep, cerr := count(cmd.Process.Pid, r)
	if errors.Is(cerr, errPreempted) {
		cmd.Wait() // let go, the child finishes on its own
		return nil, cerr
	}
	if cerr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, cerr
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("lockcount: child: %w", err)
	}
	return rep, nil
}

// hello is the child's report.
type hello struct {
	tid                 int
	start, end, release uint64
}

func readHello(r *os.File) (hello, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		ch <- line{s, err}
	}()
	var l line
	select {
	case l = <-ch:
	case <-time.After(2 * time.Minute): // a safety net: the warm-up is short
		return hello{}, errors.New("lockcount: the child never reported")
	}
	if l.err != nil {
		return hello{}, fmt.Errorf("lockcount: the child's report: %w", l.err)
	}
	f := strings.Fields(l.s)
	if len(f) != 4 {
		return hello{}, fmt.Errorf("lockcount: a malformed report %q", l.s)
	}
	var h hello
	var err error
	if h.tid, err = strconv.Atoi(f[0]); err != nil {
		return hello{}, err
	}
	for i, p := range []*uint64{&h.start, &h.end, &h.release} {
		if *p, err = strconv.ParseUint(f[i+1], 0, 64); err != nil {
			return hello{}, err
		}
	}
	return h, nil
}

// tracer holds the threads of one child seized, on the OS thread that
// seized them (ptrace answers only the thread that attached).
type tracer struct {
	pid     int
	threads []int
}

func permission(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %v", ErrNotPermitted, err)
	}
	return err
}

// seizeAll stops every thread of the child, listing them again until no
// new one appeared meanwhile.
func (t *tracer) seizeAll() error {
	seen := map[int]bool{}
	for {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", t.pid))
		if err != nil {
			return err
		}
		added := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || seen[tid] {
				continue
			}
			seen[tid], added = true, true
			if err := unix.PtraceSeize(tid); err != nil {
				return permission(fmt.Errorf("lockcount: PTRACE_SEIZE %d: %w", tid, err))
			}
			t.threads = append(t.threads, tid)
			if err := unix.PtraceInterrupt(tid); err != nil {
				return fmt.Errorf("lockcount: PTRACE_INTERRUPT %d: %w", tid, err)
			}
			if _, err := t.wait(tid); err != nil {
				return err
			}
		}
		if !added {
			return nil
		}
	}
}

// wait waits for tid's next stop.
func (t *tracer) wait(tid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, fmt.Errorf("lockcount: wait4 %d: %w", tid, err)
		}
		if !ws.Stopped() {
			return ws, fmt.Errorf("lockcount: thread %d ended: %v", tid, ws)
		}
		return ws, nil
	}
}

// detachAll lets every seized thread go. Once the first are let go the
// child may finish and exit before the rest are detached: those fail
// with ESRCH, and are reaped, since a traced thread that exits stays a
// zombie until its tracer waits for it, and holds its process's exit
// back.
func (t *tracer) detachAll() {
	for _, tid := range t.threads {
		if unix.PtraceDetach(tid) == unix.ESRCH {
			var ws unix.WaitStatus
			unix.Wait4(tid, &ws, unix.WALL, nil)
		}
	}
}

// step single-steps tid once and returns its RIP.
func (t *tracer) step(tid int) (uint64, error) {
	if err := unix.PtraceSingleStep(tid); err != nil {
		return 0, fmt.Errorf("lockcount: PTRACE_SINGLESTEP: %w", err)
	}
	ws, err := t.wait(tid)
	if err != nil {
		return 0, err
	}
	if ws.StopSignal() != syscall.SIGTRAP {
		return 0, fmt.Errorf("lockcount: the stepped thread stopped with %v, not a trap", ws.StopSignal())
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &regs); err != nil {
		return 0, fmt.Errorf("lockcount: PTRACE_GETREGS: %w", err)
	}
	return regs.Rip, nil
}

func (t *tracer) rip(tid int) (uint64, error) {
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &regs); err != nil {
		return 0, fmt.Errorf("lockcount: PTRACE_GETREGS: %w", err)
	}
	return regs.Rip, nil
}

// preempting reports whether pc is where a goroutine goes when it yields
// at a function's stack check (runtime.morestack, which a warmed-up body
// reaches only to be preempted).
func preempting(pc uint64) bool {
	f := runtime.FuncForPC(uintptr(pc))
	return f != nil && f.Entry() == uintptr(pc) && f.Name() == "runtime.morestack"
}

// count seizes the child that reports on r and counts its body.
func count(pid int, r *os.File) (*Report, error) {
	h, err := readHello(r)
	if err != nil {
		return nil, err
	}
	if h.start == h.end {
		return nil, errors.New("lockcount: the markers were folded into one function")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := &tracer{pid: pid}
	defer t.detachAll()
	if err := t.seizeAll(); err != nil {
		return nil, err
	}
	word := make([]byte, 8)
	word[0] = 1
	if _, err := unix.PtracePokeData(h.tid, uintptr(h.release), word); err != nil {
		return nil, fmt.Errorf("lockcount: PTRACE_POKEDATA: %w", err)
	}
	// The parent runs the same binary: its symbols are the child's when
	// the markers are where the child says (a binary without PIE).
	symbolize := pcOf(Start) == h.start && pcOf(End) == h.end
	pc, err := t.rip(h.tid)
	if err != nil {
		return nil, err
	}
	for n := 0; pc != h.start; n++ {
		if n == maxSteps {
			return nil, errors.New("lockcount: the child never reached Start")
		}
		if symbolize && preempting(pc) {
			return nil, errPreempted
		}
		if pc, err = t.step(h.tid); err != nil {
			return nil, err
		}
	}
	rep := &Report{ByFunc: map[string]int{}}
	buf := make([]byte, 16)
	prev := uint64(0)
	for pc != h.end {
		if rep.Steps == maxSteps {
			return nil, errors.New("lockcount: the body ran past the step bound")
		}
		if _, err := unix.PtracePeekText(h.tid, uintptr(pc), buf); err != nil {
			return nil, fmt.Errorf("lockcount: PTRACE_PEEKTEXT %#x: %w", pc, err)
		}
		if symbolize && preempting(pc) {
			return nil, errPreempted
		}
		locked, kind, rep1 := Classify(buf)
		rep.Steps++
		if !(rep1 && pc == prev) { // a REP iteration is the same instruction
			rep.Instructions++
			if symbolize {
				rep.ByFunc[funcName(pc, true)]++
			}
			if locked {
				s := Site{PC: pc, Insn: kind, Bytes: append([]byte(nil), buf[:8]...)}
				if symbolize {
					s.Func = funcName(pc, false)
				}
				if s.Func == "" {
					s.Func = fmt.Sprintf("%#x", pc)
				}
				rep.Locked = append(rep.Locked, s)
			}
		}
		prev = pc
		if pc, err = t.step(h.tid); err != nil {
			return nil, err
		}
	}
	return rep, nil
}
