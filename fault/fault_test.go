package fault

import (
	"testing"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/memory"
	"github.com/faultline/faultline/mm"
	"github.com/faultline/faultline/pgtable"
	"github.com/faultline/faultline/phys"
	"github.com/faultline/faultline/sched"
	"github.com/faultline/faultline/trace"
	"github.com/faultline/faultline/vmfault"
)

// testArch is a minimal mm.Arch.
type testArch struct{}

func (testArch) PageProt(f mm.VMFlags, _ int) pgtable.PTE {
	if f&mm.VMAccessFlags == 0 {
		return 0
	}
	return pgtable.User | pgtable.Read
}
func (testArch) TaskSize() uint64                               { return 1 << 47 }
func (testArch) MmapBase() uint64                               { return 1 << 46 }
func (testArch) AccessPermitted(*mm.VMA, bool, bool, bool) bool { return true }
func (testArch) MprotectPKey(mm.Prot, int) int                  { return 0 }

// policy is an access rule: writes need VM_WRITE, everything else any
// access right.
type policy struct{}

func (p policy) AccessError(v *mm.VMA, req AccessCheck) abi.Code {
	if req.Access == mm.AccessWrite && v.Flags&mm.VMWrite == 0 || !v.Accessible() {
		return abi.SEGV_ACCERR
	}
	return 0
}

// task is a fault.Task whose signals the test sets.
type task struct {
	m            *mm.MM
	pending      bool
	fatal        bool
	sleeps       int
	minor, major int
	vmac         mm.VMACache
}

func (t *task) FaultContext() (*mm.MM, *mm.VMACache, memory.Faulter, *trace.Track) {
	return t.m, &t.vmac, t, nil
}
func (t *task) SignalPending() bool      { return t.pending || t.fatal }
func (t *task) FatalSignalPending() bool { return t.fatal }
func (t *task) MemCG() *phys.MemCG       { return nil }
func (t *task) PageCache() *phys.Cache   { return nil }
func (t *task) Tracer() *trace.Track     { return nil }
func (t *task) AccountFault(major bool) {
	if major {
		t.major++
	} else {
		t.minor++
	}
}

// Sleep is interrupted by a fatal signal, else reports whether the event fired.
func (t *task) Sleep(ev *sched.Event, mode sched.Mode) bool {
	t.sleeps++
	return ev.Fired()
}

// call records one call of the resolver double.
type call struct {
	vma   *mm.VMA
	flags vmfault.Flags
}

// script is a handle_mm_fault double returning results in order (the last
// one repeats). It keeps the real contract: on Retry or Completed it
// releases the fault lock.
type script struct {
	results []vmfault.Reason
	calls   []call
	onCall  func(n int) // runs before call n returns, e.g. to raise a signal
}

func (s *script) resolve(vma *mm.VMA, addr uint64, flags vmfault.Flags, t memory.Faulter) vmfault.Reason {
	n := len(s.calls)
	s.calls = append(s.calls, call{vma, flags})
	r := s.results[min(n, len(s.results)-1)]
	if s.onCall != nil {
		s.onCall(n)
	}
	if r&(vmfault.Retry|vmfault.Completed) != 0 {
		mm.ReleaseFaultLock(vma, flags&vmfault.FlagVMALock != 0)
	}
	return r
}

const (
	base  = 0x10000000
	stack = base + 4<<20 // a growsdown VMA, beyond the guard gap of the others
)

// setup returns an address space with a read-write VMA at base (4 pages),
// a read-only one above it, and a growsdown one at stack.
func setup(t *testing.T) (*mm.MM, *task) {
	t.Helper()
	cfg := config.Default()
	m := mm.New(testArch{}, &cfg, phys.NewAllocator())
	s := sched.NoSleep{}
	for _, r := range []mm.MapRequest{
		{Addr: base, Length: 4 << 12, Prot: mm.ProtRead | mm.ProtWrite, Flags: mm.MapFixedNoReplace},
		{Addr: base + 8<<12, Length: 4 << 12, Prot: mm.ProtRead, Flags: mm.MapFixedNoReplace},
		{Addr: stack, Length: 4 << 12, Prot: mm.ProtRead | mm.ProtWrite, Flags: mm.MapFixedNoReplace | mm.MapGrowsDown},
	} {
		if _, err := m.Mmap(s, r); err != 0 {
			t.Fatalf("mmap %#x: %v", r.Addr, err)
		}
	}
	return m, &task{m: m}
}

// assertUnlocked fails unless the address space holds no lock at all.
func assertUnlocked(t *testing.T, m *mm.MM) {
	t.Helper()
	if r, w, v := m.LockState(); r != 0 || w || v != 0 {
		t.Fatalf("locks left held: mmap readers %d, writer %v, VMA readers %d", r, w, v)
	}
}

func TestHandle(t *testing.T) {
	R := vmfault.Retry
	tests := []struct {
		name    string
		req     Request
		results []vmfault.Reason
		fatal   bool            // a fatal signal is pending
		pending bool            // a non-fatal signal is pending
		noMFail bool            // CONFIG_MEMORY_FAILURE off
		raiseAt int             // raise `pending` only from the resolver's call n (0: from the start)
		want    Result          // Addr is filled in
		calls   int             // resolver calls
		flags   []vmfault.Flags // flags expected on each call (subset check)
	}{
		{name: "done under the VMA lock", req: Request{Addr: base, Access: mm.AccessWrite, User: true},
			results: []vmfault.Reason{0}, want: Result{Verdict: Done}, calls: 1,
			flags: []vmfault.Flags{vmfault.FlagVMALock | vmfault.FlagUser | vmfault.FlagWrite | vmfault.FlagDefault}},
		{name: "kernel fault skips the VMA lock", req: Request{Addr: base, HasFixup: true},
			results: []vmfault.Reason{0}, want: Result{Verdict: Done}, calls: 1,
			flags: []vmfault.Flags{vmfault.FlagDefault}},
		{name: "no VMA, user", req: Request{Addr: 0x1000, User: true},
			want: Result{Verdict: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR}},
		{name: "no VMA, kernel", req: Request{Addr: 0x1000, HasFixup: true},
			want: Result{Verdict: KernFixup, Cause: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR}},
		{name: "access error reported under the VMA lock", req: Request{Addr: base + 8<<12, Access: mm.AccessWrite, User: true},
			want: Result{Verdict: AccessErr, Signo: abi.SIGSEGV, Code: abi.SEGV_ACCERR}},
		{name: "kernel access error", req: Request{Addr: base + 8<<12, Access: mm.AccessWrite, HasFixup: true},
			want: Result{Verdict: KernFixup, Cause: AccessErr, Signo: abi.SIGSEGV, Code: abi.SEGV_ACCERR}},
		{name: "retry under the VMA lock, then done under the mmap lock", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{R, 0}, want: Result{Verdict: Done, Retries: Retries{VMALock: 1}}, calls: 2,
			flags: []vmfault.Flags{vmfault.FlagVMALock, vmfault.FlagUser}},
		{name: "major retry under the VMA lock marks the next try", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{R | vmfault.Major, 0}, want: Result{Verdict: Done, Major: true, Retries: Retries{VMALock: 1}}, calls: 2,
			flags: []vmfault.Flags{vmfault.FlagVMALock, vmfault.FlagTried}},
		{name: "retry twice under the mmap lock", req: Request{Addr: base, HasFixup: true},
			results: []vmfault.Reason{R, R | vmfault.Major, 0}, want: Result{Verdict: Done, Major: true, Retries: Retries{Dropped: 2}}, calls: 3,
			flags: []vmfault.Flags{vmfault.FlagAllowRetry, vmfault.FlagTried, vmfault.FlagTried}},
		{name: "completed under the VMA lock", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.Completed}, want: Result{Verdict: Done}, calls: 1},
		{name: "completed under the mmap lock", req: Request{Addr: base, HasFixup: true},
			results: []vmfault.Reason{R, vmfault.Completed}, want: Result{Verdict: Done, Major: true, Retries: Retries{Dropped: 1}}, calls: 2},
		{name: "user retry with a signal pending", req: Request{Addr: base, User: true}, pending: true,
			results: []vmfault.Reason{R}, want: Result{Verdict: Signal, Retries: Retries{VMALock: 1}}, calls: 1},
		{name: "user retry with a signal raised under the mmap lock", req: Request{Addr: base, User: true}, pending: true, raiseAt: 1,
			results: []vmfault.Reason{R, R}, want: Result{Verdict: Signal, Retries: Retries{VMALock: 1}}, calls: 2},
		{name: "kernel retry ignores a non-fatal signal", req: Request{Addr: base, HasFixup: true}, pending: true,
			results: []vmfault.Reason{R, R, 0}, want: Result{Verdict: Done, Major: true, Retries: Retries{Dropped: 2}}, calls: 3},
		{name: "kernel retry with a fatal signal", req: Request{Addr: base, HasFixup: true}, fatal: true,
			results: []vmfault.Reason{R}, want: Result{Verdict: KernFixup, Cause: Signal}, calls: 1},
		{name: "user retry with a fatal signal", req: Request{Addr: base, User: true}, fatal: true,
			results: []vmfault.Reason{R}, want: Result{Verdict: Signal, Retries: Retries{VMALock: 1}}, calls: 1},
		{name: "OOM, user", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.OOM}, want: Result{Verdict: OOM}, calls: 1},
		{name: "OOM, kernel", req: Request{Addr: base, HasFixup: true},
			results: []vmfault.Reason{vmfault.OOM}, want: Result{Verdict: KernFixup, Cause: OOM}, calls: 1},
		{name: "SIGBUS", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.SigBus}, want: Result{Verdict: SigBus, Signo: abi.SIGBUS, Code: abi.BUS_ADRERR}, calls: 1},
		{name: "SIGSEGV is a bad area", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.SigSegv}, want: Result{Verdict: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR}, calls: 1},
		{name: "HWPOISON", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.HWPoison}, want: Result{Verdict: HWPoison, Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, LSB: 12}, calls: 1},
		{name: "HWPOISON_LARGE of a 2M page", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.HWPoisonLarge | vmfault.SetHIndex(0)}, want: Result{Verdict: HWPoison, Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, LSB: 21}, calls: 1},
		{name: "HWPOISON_LARGE of a 1G page", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.HWPoisonLarge | vmfault.SetHIndex(1)}, want: Result{Verdict: HWPoison, Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, LSB: 30}, calls: 1},
		{name: "small poison wins over large", req: Request{Addr: base, User: true},
			results: []vmfault.Reason{vmfault.HWPoison | vmfault.HWPoisonLarge | vmfault.SetHIndex(0)}, want: Result{Verdict: HWPoison, Signo: abi.SIGBUS, Code: abi.BUS_MCEERR_AR, LSB: 12}, calls: 1},
		{name: "poison without CONFIG_MEMORY_FAILURE", req: Request{Addr: base, User: true}, noMFail: true,
			results: []vmfault.Reason{vmfault.HWPoison}, want: Result{Verdict: HWPoison, Signo: abi.SIGBUS, Code: abi.BUS_ADRERR}, calls: 1},
		{name: "kernel SIGBUS keeps the implied signal", req: Request{Addr: base, HasFixup: true},
			results: []vmfault.Reason{vmfault.SigBus}, want: Result{Verdict: KernFixup, Cause: SigBus, Signo: abi.SIGBUS, Code: abi.BUS_ADRERR}, calls: 1},
		{name: "kernel error with a fatal signal pending", req: Request{Addr: base, HasFixup: true}, fatal: true,
			results: []vmfault.Reason{vmfault.SigBus}, want: Result{Verdict: KernFixup, Cause: Signal}, calls: 1},
		{name: "faults disabled", req: Request{Addr: base, User: true, NoFault: true},
			want: Result{Verdict: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR}},
		{name: "stack expansion", req: Request{Addr: stack - 1, Access: mm.AccessWrite, User: true},
			results: []vmfault.Reason{0}, want: Result{Verdict: Done}, calls: 1},
		{name: "below a non-growsdown VMA", req: Request{Addr: base - 1, User: true},
			want: Result{Verdict: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, tk := setup(t)
			tk.fatal = tc.fatal
			tk.pending = tc.pending && tc.raiseAt == 0
			sc := &script{results: tc.results}
			if tc.pending && tc.raiseAt > 0 {
				sc.onCall = func(n int) {
					if n == tc.raiseAt {
						tk.pending = true
					}
				}
			}
			if len(sc.results) == 0 {
				sc.results = []vmfault.Reason{vmfault.SigBus} // must not be reached
			}
			h := &Handler{Arch: policy{}, Resolve: sc.resolve, MemoryFailure: !tc.noMFail, MaxRetries: 100}
			got := h.Handle(tk, tc.req)
			assertUnlocked(t, m)
			want := tc.want
			want.Addr = tc.req.Addr
			if got != want {
				t.Errorf("result\n got %+v\nwant %+v", got, want)
			}
			if len(sc.calls) != tc.calls {
				t.Errorf("resolver called %d times, want %d", len(sc.calls), tc.calls)
			}
			for i, f := range tc.flags {
				if i < len(sc.calls) && sc.calls[i].flags&f != f {
					t.Errorf("call %d flags %v, want at least %v", i, sc.calls[i].flags, f)
				}
			}
			for i, c := range sc.calls {
				if i > 0 && c.flags&vmfault.FlagVMALock != 0 {
					t.Errorf("call %d ran under the VMA lock after a retry", i)
				}
				if c.flags&vmfault.FlagUser != 0 != tc.req.User {
					t.Errorf("call %d flags %v: USER does not match the mode", i, c.flags)
				}
			}
		})
	}
}

// TestStackExpansion checks that the fault below a growsdown VMA grows it
// under the write lock and resolves it in the grown VMA.
func TestStackExpansion(t *testing.T) {
	m, tk := setup(t)
	sc := &script{results: []vmfault.Reason{0}}
	h := &Handler{Arch: policy{}, Resolve: sc.resolve, MaxRetries: 10}
	addr := uint64(stack - 3<<12 + 5)
	if got := h.Handle(tk, Request{Addr: addr, Access: mm.AccessWrite, User: true}); got.Verdict != Done {
		t.Fatalf("verdict %v", got.Verdict)
	}
	assertUnlocked(t, m)
	v := sc.calls[0].vma
	if v.Start != addr&^0xfff || v.Flags&mm.VMGrowsDown == 0 {
		t.Fatalf("resolved in VMA [%#x,%#x) %v, want the stack grown to %#x", v.Start, v.End, v.Flags, addr&^0xfff)
	}
	if sc.calls[0].flags&vmfault.FlagVMALock != 0 {
		t.Fatalf("an expansion fault must run under the mmap lock")
	}
}

// TestLivelock checks the retry bound.
func TestLivelock(t *testing.T) {
	m, tk := setup(t)
	sc := &script{results: []vmfault.Reason{vmfault.Retry}}
	h := &Handler{Arch: policy{}, Resolve: sc.resolve, MaxRetries: 5}
	got := h.Handle(tk, Request{Addr: base, HasFixup: true})
	assertUnlocked(t, m)
	if got.Verdict != Livelock || got.Retries.Dropped != 6 {
		t.Fatalf("got %+v, want Livelock after 6 dropped retries", got)
	}
}

// TestKernelFaultDoesNotWaitWithoutFixup: with the mmap lock contended, a
// kernel fault from an instruction with no exception-table entry gives up
// instead of sleeping (it may be a bug that holds the lock itself).
func TestKernelFaultDoesNotWaitWithoutFixup(t *testing.T) {
	m, tk := setup(t)
	if !m.MmapWriteTryLock() {
		t.Fatal("cannot take the write lock")
	}
	sc := &script{results: []vmfault.Reason{0}}
	h := &Handler{Arch: policy{}, Resolve: sc.resolve, MaxRetries: 10}
	got := h.Handle(tk, Request{Addr: base})
	if got.Verdict != KernFixup || got.Cause != BadArea || tk.sleeps != 0 || len(sc.calls) != 0 {
		t.Fatalf("got %+v after %d sleeps and %d resolver calls", got, tk.sleeps, len(sc.calls))
	}
	m.MmapWriteUnlock()
	assertUnlocked(t, m)
}

// TestKillableLockWait: a fault waiting for a contended mmap lock gives up
// when the wait is interrupted by a fatal signal, and holds nothing.
func TestKillableLockWait(t *testing.T) {
	for _, user := range []bool{true, false} {
		m, tk := setup(t)
		if !m.MmapWriteTryLock() {
			t.Fatal("cannot take the write lock")
		}
		tk.fatal = true
		sc := &script{results: []vmfault.Reason{0}}
		h := &Handler{Arch: policy{}, Resolve: sc.resolve, MaxRetries: 10}
		// The VMA lock is taken by mmap's writer too (new VMAs are not
		// locked), so a user fault may still resolve under it: use an
		// address only the mmap-lock path serves.
		got := h.Handle(tk, Request{Addr: stack - 1, User: user, HasFixup: true})
		if tk.sleeps != 1 || len(sc.calls) != 0 {
			t.Fatalf("user=%v: %d sleeps, %d resolver calls", user, tk.sleeps, len(sc.calls))
		}
		want := BadArea
		if !user {
			want = KernFixup
		}
		if got.Verdict != want {
			t.Fatalf("user=%v: verdict %v, want %v", user, got.Verdict, want)
		}
		if r, w, _ := m.LockState(); r != 0 || !w {
			t.Fatalf("user=%v: lock state readers=%d writer=%v; only the test's write hold should remain", user, r, w)
		}
		m.MmapWriteUnlock()
		assertUnlocked(t, m)
	}
}

// TestNoMM: a kernel thread faulting on a user address has no mm.
func TestNoMM(t *testing.T) {
	h := &Handler{Arch: policy{}, Resolve: (&script{results: []vmfault.Reason{0}}).resolve}
	got := h.Handle(&task{}, Request{Addr: base, HasFixup: true})
	if got.Verdict != KernFixup || got.Cause != BadArea {
		t.Fatalf("got %+v", got)
	}
}

func TestNoVMA(t *testing.T) {
	got := NoVMA(Request{Addr: 0xffff800000000000, User: true})
	if got != (Result{Verdict: BadArea, Signo: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: 0xffff800000000000}) {
		t.Fatalf("got %+v", got)
	}
	if got := NoVMA(Request{Addr: 1}); got.Verdict != KernFixup || got.Cause != BadArea {
		t.Fatalf("kernel: got %+v", got)
	}
}

func TestVerdictString(t *testing.T) {
	for v := Done; v <= Livelock; v++ {
		if s := v.String(); s == "" || s[0] == 'V' {
			t.Errorf("verdict %d has no name: %q", int(v), s)
		}
	}
	if s := Verdict(99).String(); s != "Verdict(99)" {
		t.Errorf("unknown verdict prints %q", s)
	}
}

// codePolicy refuses every access with one si_code.
type codePolicy abi.Code

func (p codePolicy) AccessError(*mm.VMA, AccessCheck) abi.Code { return abi.Code(p) }

// TestAccessErrorPKey: si_pkey is the VMA's key for SEGV_PKUERR only
// (force_sig_pkuerr); an ACCERR carries none, whatever the VMA's key, under
// the VMA lock (user) and the mmap lock (kernel).
func TestAccessErrorPKey(t *testing.T) {
	for _, code := range []abi.Code{abi.SEGV_ACCERR, abi.SEGV_PKUERR} {
		for _, user := range []bool{true, false} {
			m, tk := setup(t)
			m.VMALookup(base).PKey = 3 // no fault runs yet: nothing else reads it
			h := &Handler{Arch: codePolicy(code), Resolve: (&script{results: []vmfault.Reason{0}}).resolve, MaxRetries: 10}
			got := h.Handle(tk, Request{Addr: base, User: user, HasFixup: true})
			want := 0
			if code == abi.SEGV_PKUERR {
				want = 3
			}
			if got.Code != code || got.PKey != want {
				t.Errorf("%v, user %v: code %v pkey %d, want %v pkey %d", code, user, got.Code, got.PKey, code, want)
			}
			assertUnlocked(t, m)
		}
	}
}
