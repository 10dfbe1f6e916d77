//go:build linux

package hostrun

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/check"
	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
)

// step runs one statement on the host.
func (r *hrun) step(st *scenario.Stmt) error {
	act := r.actors[st.Actor]
	if act == nil {
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st,
			fmt.Sprintf("actor %s does not exist: the statement making it did not succeed", st.Actor)))
		return nil
	}
	if act.pending != nil {
		if _, isWait := st.Op.(*scenario.Wait); !isWait {
			return fmt.Errorf("%s: actor %s is still running the statement at %s", st.Pos, st.Actor, act.pending.stmt.Pos)
		}
	}
	addr := func(a scenario.Addr) (uint64, bool) {
		v, err := r.regions.Resolve(a)
		if err != nil {
			r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st, err.Error()))
		}
		return v, err == nil
	}
	plain := &hpending{}
	switch op := st.Op.(type) {
	case *scenario.Mmap:
		prot := protBits(op.Prot)
		flags := mapPrivate
		if op.Shared {
			flags = mapShared
		}
		file, off := "-", uint64(0)
		if op.File == "" {
			flags |= mapAnonymous
		} else {
			file, off = op.File, op.Off
		}
		for _, f := range []struct {
			on  bool
			bit int
		}{{op.GrowsDown, mapGrowsDown}, {op.Populate, mapPopulate}, {op.Locked, mapLocked}, {op.NoReserve, mapNoReserve}, {op.Hugetlb, mapHugetlb}} {
			if f.on {
				flags |= f.bit
			}
		}
		at := uint64(0)
		if op.At != nil {
			v, ok := addr(*op.At)
			if !ok {
				return nil
			}
			at, flags = v, flags|mapFixedNoReplace
		}
		name, size := op.Name, op.Size
		p := &hpending{bind: func(rep host.Reply) {
			if len(rep.Vals) > 0 {
				r.regions.Bind(name, rep.Vals[0], size)
			}
		}}
		return r.send(act, st, fmt.Sprintf("mmap %d %d %d 0x%x %s %d", op.Size, prot, flags, at, file, off), p)
	case *scenario.Munmap:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("munmap 0x%x %d", a, op.Size), plain)
		}
	case *scenario.Mprotect:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("mprotect 0x%x %d %d", a, op.Size, protBits(op.Prot)), plain)
		}
	case *scenario.Madvise:
		adv, ok := advices[op.Advice]
		if !ok {
			return fmt.Errorf("%s: madvise %s has no host number", st.Pos, op.Advice)
		}
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("madvise 0x%x %d %d", a, op.Size, adv), plain)
		}
	case *scenario.File:
		return r.send(act, st, fmt.Sprintf("file %s %d %s", op.Name, op.Size, r.byteVal(op.Fill)), plain)
	case *scenario.Truncate:
		return r.send(act, st, fmt.Sprintf("truncate %s %d", op.Name, op.Size), plain)
	case *scenario.Rlimit:
		return r.send(act, st, fmt.Sprintf("rlimit_stack %d", op.Size), plain)
	case *scenario.Memlimit:
		r.record(st, r.index, r.memlimit(act, op.Size))
	case *scenario.Hugepages:
		r.record(st, r.index, r.hugepages(op.N))
	case *scenario.Read:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("read 0x%x", a), &hpending{kind: kindValue})
		}
	case *scenario.Write:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("write 0x%x %s", a, r.byteVal(op.Value)), plain)
		}
	case *scenario.Exec:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("exec 0x%x", a), plain)
		}
	case *scenario.Touch:
		if a, ok := addr(op.Addr); ok {
			rw := "r"
			if op.Access == scenario.AccessWrite {
				rw = "w"
			}
			return r.send(act, st, fmt.Sprintf("touch 0x%x %d %s", a, op.Size, rw), plain)
		}
	case *scenario.KRead:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("kread 0x%x %d %s", a, op.Size, r.byteVal(op.Value)), &hpending{kind: kindValue})
		}
	case *scenario.KWrite:
		if a, ok := addr(op.Addr); ok {
			return r.send(act, st, fmt.Sprintf("kwrite 0x%x %d", a, op.Size), &hpending{kind: kindValue})
		}
	case *scenario.Thread:
		return r.spawn(act, st, "thread", op.Name)
	case *scenario.Fork:
		return r.spawn(act, st, "fork", op.Name)
	case *scenario.Sigaction:
		return r.send(act, st, fmt.Sprintf("sigaction %d %s", op.Signal, op.Action), plain)
	case *scenario.Kill:
		return r.kill(act, st, op)
	case *scenario.Caught:
		return r.caught(act, st, op)
	case *scenario.Wait:
		return r.wait(st, op)
	case *scenario.Faults:
		return r.faults(st, op)
	case *scenario.Evict:
		return r.send(act, st, fmt.Sprintf("evict %s", op.Name), plain)
	case *scenario.IO:
		return fmt.Errorf("%s: io is model-only", st.Pos)
	case *scenario.Uffd:
		return r.uffd(act, st, op)
	case *scenario.KDeref:
		return fmt.Errorf("%s: kderef is model-only", st.Pos)
	default:
		return fmt.Errorf("%s: %s has no host implementation", st.Pos, st.Op.Keyword())
	}
	return nil
}

func (r *hrun) failureNotRun(st *scenario.Stmt, note string) runner.Failure {
	r.rep.Checked++
	return runner.Failure{Pos: st.Pos.String(), Stmt: strings.Join(strings.Fields(st.Text), " "),
		Expected: check.Expected(st.ExpectFor(r.h.Arch, false, r.h.Config.Version), r.regions), Actual: "not run", Note: note}
}

var advices = map[scenario.Advice]int{
	scenario.AdvDontneed: madvDontneed, scenario.AdvPopulateRead: madvPopulateRead,
	scenario.AdvPopulateWrite: madvPopulateWrite, scenario.AdvGuardInstall: madvGuardInstall,
	scenario.AdvGuardRemove: madvGuardRemove, scenario.AdvRandom: madvRandom,
	scenario.AdvHWPoison: madvHWPoison,
}

func protBits(p scenario.Prot) int {
	b := 0
	if p.Read {
		b |= protRead
	}
	if p.Write {
		b |= protWrite
	}
	if p.Exec {
		b |= protExec
	}
	return b
}

// byteVal is a byte argument of the protocol: the number, or for `ret`
// the word ret, for which the executor stores the arch's whole return
// instruction (a file or page of ret repeats it), so that `exec` of it
// returns on the real CPU; reads see its first byte, the model's RetByte.
func (r *hrun) byteVal(b scenario.Byte) string {
	if b.Ret {
		return host.RetArg
	}
	return strconv.Itoa(int(b.Value))
}

// spawn creates actor name with a thread or fork command.
func (r *hrun) spawn(act *hactor, st *scenario.Stmt, verb, name string) error {
	slot := r.slots
	r.slots++
	if err := r.send(act, st, fmt.Sprintf("%s %s %d", verb, name, slot), &hpending{}); err != nil {
		return err
	}
	if act.pending != nil || act.gone {
		return nil // the creation itself did not complete
	}
	a, err := r.ex.Actor(name, r.bound(5*time.Second))
	if err != nil {
		return &TimedOutError{What: fmt.Sprintf("%s: %s %s: the new actor's hello (%v)", st.Pos, verb, name, err), Limit: r.bound(5 * time.Second)}
	}
	// Its counts start now, when it is ready (the model's new task starts
	// at zero): the executor's own set-up in it (the child's copies of its
	// stack and buffers, a thread's new stack) is not the scenario's.
	na := &hactor{name: name, a: a, slot: slot}
	if min, maj, ok := threadFaults(a.PID, a.TID); ok {
		na.minflt, na.majflt = min, maj
	}
	r.actors[name] = na
	if verb == "fork" {
		// The fork made every page of the parent copy-on-write: let its
		// other idle threads take the copies of their own pages now, so
		// that fault counts stay the scenario's.
		for _, other := range r.actors {
			if other != act && other.a.PID == act.a.PID && other.pending == nil && !other.gone {
				if _, err := other.a.Do("warm", r.bound(2*time.Second)); err != nil {
					return r.cmdErr(err, fmt.Sprintf("%s: warming %s after the fork", st.Pos, other.name), 2*time.Second)
				}
			}
		}
	}
	return nil
}

// kill sends the signal and waits until the target has taken it: a
// handler has run, or its process is gone, so that the next statement
// sees a settled state, as on the model.
func (r *hrun) kill(act *hactor, st *scenario.Stmt, op *scenario.Kill) error {
	target := r.actors[op.Target]
	if target == nil {
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st,
			fmt.Sprintf("actor %s does not exist: the statement making it did not succeed", op.Target)))
		return nil
	}
	if target.gone {
		// tgkill of a dead thread: ESRCH on the host; the model drops it.
		r.record(st, r.index, check.Observation{Kind: scenario.OutOK})
		return nil
	}
	err := r.send(act, st, fmt.Sprintf("kill %d %d %d", target.a.PID, target.a.TID, op.Signal), &hpending{})
	if err != nil {
		return err
	}
	// The signal may also stay pending for good, and then waiting for it
	// is waiting for the bound: the target sleeps where this signal does
	// not end the wait (stopped, or a killable userfaultfd wait), or it
	// re-faults in a kernel copy's userfaultfd loop, which only a fatal
	// signal ends (the state await calls blocked).
	// The loop's evidence stays with the target: a wait that follows
	// goes on from what this one saw.
	pid, tid := target.a.PID, target.a.TID
	settle(r.bound(2*time.Second), func() bool {
		return !signalPending(pid, tid, op.Signal) || kernelBlocked(pid, tid, false) || r.looping(target)
	})
	// Dequeued is not handled: the target runs its handler after
	// get_signal took the signal, then goes back to sleep: an idle one
	// waiting for its next command, one in a user fault's userfaultfd
	// wait faulting and waiting again. Until it sleeps again a `caught`
	// could read the count before the handler's increment (seen under
	// emulation, and here once the looks came within microseconds). A
	// thread in the re-fault loop never sleeps, and runs no handler.
	settle(r.bound(2*time.Second), func() bool {
		st, ok := readTaskStatus(pid, tid)
		return !ok || st.state != 'R' || target.pending != nil && r.looping(target)
	})
	return nil
}

// signalPending reads the thread's and its process's pending sets.
func signalPending(pid, tid, sig int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return false // gone: nothing is pending any more
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err == nil && mask&(1<<uint(sig-1)) != 0 {
			return true
		}
	}
	return false
}

// caught reads the target's handler count from the executor's shared
// counters, asking any live actor.
func (r *hrun) caught(act *hactor, st *scenario.Stmt, op *scenario.Caught) error {
	target := r.actors[op.Target]
	if target == nil {
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st,
			fmt.Sprintf("actor %s does not exist: the statement making it did not succeed", op.Target)))
		return nil
	}
	asker := act
	if asker.gone || asker.pending != nil {
		asker = nil
		for _, a := range r.actors {
			if !a.gone && a.pending == nil {
				asker = a
				break
			}
		}
	}
	if asker == nil {
		return fmt.Errorf("%s: no actor is free to read the handler counts", st.Pos)
	}
	rep, err := asker.a.Do(fmt.Sprintf("caught %d %d", target.slot, op.Signal), r.bound(2*time.Second))
	if err != nil {
		return r.cmdErr(err, fmt.Sprintf("%s: caught", st.Pos), 2*time.Second)
	}
	if rep.Kind != "ok" || len(rep.Vals) == 0 {
		return fmt.Errorf("%s: caught: the executor answered %s %s", st.Pos, rep.Kind, rep.Text)
	}
	r.record(st, r.index, check.Observation{Kind: scenario.OutCount, Value: rep.Vals[0]})
	return nil
}

// faults reads target's fault counts off /proc and checks the difference
// since its previous faults statement.
func (r *hrun) faults(st *scenario.Stmt, op *scenario.Faults) error {
	target := r.actors[op.Target]
	if target == nil {
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st,
			fmt.Sprintf("actor %s does not exist: the statement making it did not succeed", op.Target)))
		return nil
	}
	if target.gone {
		sig, err := r.killedBy(target)
		if err != nil {
			return err
		}
		r.record(st, r.index, check.Observation{Kind: scenario.OutKilled, Signal: sig})
		return nil
	}
	min, maj, ok := threadFaults(target.a.PID, target.a.TID)
	if !ok {
		return fmt.Errorf("%s: cannot read the fault counts of %s", st.Pos, op.Target)
	}
	obs := check.Observation{Kind: scenario.OutFaults, Minflt: min - target.minflt, Majflt: maj - target.majflt}
	target.minflt, target.majflt = min, maj
	if st.Expect != nil || len(st.Overrides) > 0 {
		r.record(st, r.index, obs)
	}
	return nil
}

// wait checks the outcome of target's background statement.
func (r *hrun) wait(st *scenario.Stmt, op *scenario.Wait) error {
	target := r.actors[op.Target]
	if target == nil {
		return fmt.Errorf("%s: wait %s: no such actor", st.Pos, op.Target)
	}
	if target.pending == nil && target.gone && target.deadSig != 0 {
		// An earlier wait collected its statement (a wait that may find
		// it unfinished on some arch leaves a later one to the file): an
		// actor that died is seen dead, as on the model.
		r.record(st, r.index, check.Observation{Kind: scenario.OutKilled, Signal: target.deadSig})
		return nil
	}
	if target.pending == nil {
		// Its background statement was not run (a region it names was
		// never bound): a failure of this scenario, not of the runner.
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st, "no background statement of "+op.Target+" is pending"))
		return nil
	}
	p := target.pending
	if p.done {
		target.pending = nil
		r.recordOf(st, p.stmt, r.index, p.obs)
		return nil
	}
	rep, err := r.await(target, p)
	obs, done, err := r.finish(target, p, rep, err)
	if err != nil {
		return err
	}
	if done {
		target.pending = nil
		if obs.Kind == scenario.OutKilled {
			target.gone = true
			if target.deadSig == 0 {
				target.deadSig = obs.Signal
			}
		}
	}
	r.recordOf(st, p.stmt, r.index, obs)
	return nil
}

// uffd runs a userfaultfd statement; the handle U is opened, with the
// features the statement needs, by its first register.
func (r *hrun) uffd(act *hactor, st *scenario.Stmt, op *scenario.Uffd) error {
	if act.gone {
		return r.send(act, st, "", &hpending{})
	}
	key := strconv.Itoa(act.a.PID) + "/" + op.Name
	a, err := r.regions.Resolve(op.Addr)
	if op.Cmd != scenario.UffdEvent && err != nil {
		r.rep.Failures = append(r.rep.Failures, r.failureNotRun(st, err.Error()))
		return nil
	}
	switch op.Cmd {
	case scenario.UffdRegister:
		if !r.uffds[key] {
			features := r.h.UffdFeatures & (uffdFeaturePagefaultFlagWP | uffdFeatureMissingHugetlbfs | uffdFeatureMissingShmem |
				uffdFeatureThreadID | uffdFeatureMinorHugetlbfs | uffdFeatureMinorShmem | uffdFeatureWPHugetlbfsShmem | uffdFeaturePoison)
			if op.SigBus {
				features |= uffdFeatureSigbus
			}
			rep, err := act.a.Do(fmt.Sprintf("uffd_open %s %d", op.Name, features), r.bound(2*time.Second))
			if err != nil {
				return r.cmdErr(err, fmt.Sprintf("%s: opening userfaultfd %s", st.Pos, op.Name), 2*time.Second)
			}
			if rep.Kind != "ok" {
				return fmt.Errorf("%s: opening userfaultfd %s: %v %s", st.Pos, op.Name, rep.Kind, rep.Text)
			}
			r.uffds[key] = true
		}
		mode := 0
		if op.Missing {
			mode |= uffdRegisterMissing
		}
		if op.WP {
			mode |= uffdRegisterWP
		}
		if op.Minor {
			mode |= uffdRegisterMinor
		}
		return r.send(act, st, fmt.Sprintf("uffd_register %s 0x%x %d %d", op.Name, a, op.Size, mode), &hpending{})
	case scenario.UffdEvent:
		// The read waits for as long as the run lasts, as a blocking read
		// does: the runner sees it sleep in poll and counts it blocked,
		// and a fault raised later still reaches it.
		p := &hpending{kind: kindEvent}
		if err := r.send(act, st, fmt.Sprintf("uffd_event %s %d", op.Name, math.MaxInt32), p); err != nil {
			return err
		}
		return nil
	case scenario.UffdCopy:
		return r.send(act, st, fmt.Sprintf("uffd_copy %s 0x%x %d %s", op.Name, a, op.Size, r.byteVal(op.Value)), &hpending{kind: kindValue})
	case scenario.UffdZeropage, scenario.UffdPoison, scenario.UffdContinue:
		return r.send(act, st, fmt.Sprintf("uffd_%s %s 0x%x %d", op.Cmd, op.Name, a, op.Size), &hpending{kind: kindValue})
	case scenario.UffdWake, scenario.UffdUnregister:
		return r.send(act, st, fmt.Sprintf("uffd_%s %s 0x%x %d", op.Cmd, op.Name, a, op.Size), &hpending{})
	case scenario.UffdWP:
		on := 0
		if op.On {
			on = 1
		}
		return r.send(act, st, fmt.Sprintf("uffd_wp %s 0x%x %d %d", op.Name, a, op.Size, on), &hpending{})
	}
	return fmt.Errorf("%s: uffd %s has no host implementation", st.Pos, op.Cmd)
}

// memlimit puts act's process in a new memory cgroup limited to size.
func (r *hrun) memlimit(act *hactor, size uint64) check.Observation {
	if r.h.Memcg == "" {
		return check.Observation{Kind: scenario.OutErrno, Errno: abi.ENOSYS}
	}
	if r.cgroup == "" {
		dir := filepath.Join(r.h.Memcg, newCgroupName())
		if err := os.Mkdir(dir, 0o755); err != nil {
			return errnoOf(err)
		}
		r.cgroup = dir
	}
	limitFile := "memory.max"
	if r.h.MemcgVersion == 1 {
		limitFile = "memory.limit_in_bytes"
	}
	if err := writeControl(filepath.Join(r.cgroup, limitFile), []byte(strconv.FormatUint(size, 10))); err != nil {
		return errnoOf(err)
	}
	if r.h.MemcgVersion == 2 {
		// No swap for the group: the limit is the memory there is.
		writeControl(filepath.Join(r.cgroup, "memory.swap.max"), []byte("0"))
	}
	if err := writeControl(filepath.Join(r.cgroup, "cgroup.procs"), []byte(strconv.Itoa(act.a.PID))); err != nil {
		return errnoOf(err)
	}
	return check.Observation{Kind: scenario.OutOK}
}

// hugepages sets the pool of 2 MiB pages to n free pages, restoring the
// old size after the run.
func (r *hrun) hugepages(n uint64) check.Observation {
	const path = "/proc/sys/vm/nr_hugepages"
	old, err := os.ReadFile(path)
	if err != nil {
		return errnoOf(err)
	}
	if r.hugeRestore == "" {
		r.hugeRestore = strings.TrimSpace(string(old))
		r.hugeInUse = hugeInUse()
		// Before the change: if this process is killed, the next run
		// restores the pool from it.
		r.hugeState = saveHugeState(r.hugeRestore)
	}
	// Free means free: pages someone holds are on top of the n.
	target := n + uint64(max(hugeInUse(), 0))
	if err := writeControl(path, []byte(strconv.FormatUint(target, 10))); err != nil {
		return errnoOf(err)
	}
	// The kernel may need a moment to find (compact) the pages.
	if !settle(r.bound(hugeSettle), func() bool { return meminfo("HugePages_Free") >= int64(n) }) {
		return check.Observation{Kind: scenario.OutErrno, Errno: abi.ENOMEM}
	}
	return check.Observation{Kind: scenario.OutOK}
}

// hugeSettle bounds the wait for huge pages that exiting processes free
// (and that compaction finds), before the run's scale.
const hugeSettle = 3 * time.Second

// hugeInUse is the number of default-size huge pages mapped or reserved
// by someone.
func hugeInUse() int64 {
	return meminfo("HugePages_Total") - meminfo("HugePages_Free")
}

// cmdErr is the error of a command of the runner's own (not a
// statement's) that did not answer: timed out when it is still pending
// after its bound d (before scaling), else what broke.
func (r *hrun) cmdErr(err error, what string, d time.Duration) error {
	if errors.Is(err, host.ErrPending) {
		return &TimedOutError{What: what, Limit: r.bound(d)}
	}
	return fmt.Errorf("%s: %v", what, err)
}

// errnoOf is the errno behind a failed file operation (EIO if none).
func errnoOf(err error) check.Observation {
	var en syscall.Errno
	if errors.As(err, &en) {
		return check.Observation{Kind: scenario.OutErrno, Errno: abi.Errno(en)}
	}
	return check.Observation{Kind: scenario.OutErrno, Errno: abi.EIO}
}
