package arch

import "github.com/faultline/faultline/config"

// RuleID names one rule of the table; the zero RuleID is no rule.
type RuleID uint8

// A Rule is one place where the generic handler deliberately does what an
// architecture's own fault.c does differently today. A native handler
// notes the rule (kernel.Kernel.NoteRule) on the path where it departs
// from the generic table, so that every difference `faultline diff` finds
// is named by the rule responsible, and one no rule explains is a bug of
// the model or a rule the table lacks.
type Rule struct {
	ID   RuleID
	Name string // stable key, as the diff and the docs print it
	// Arches lists the architectures whose native handler departs.
	Arches []string
	// Before, when set, is the first kernel version that no longer
	// departs (the fix); the rule holds for kernels before it.
	Before  config.Version
	Native  string // what today's handler does
	Generic string // what the generic handler does instead
	Reason  string // why the generic handler unifies it so
	Source  string // where the native behaviour is, and which version was read
}

// AppliesTo reports whether the rule can hold for a kernel of version v.
func (r *Rule) AppliesTo(v config.Version) bool {
	return r.Before == (config.Version{}) || v.Compare(r.Before) < 0
}

// Rules.
const (
	_ RuleID = iota
	// RuleFixupArgs: x86 passes four different (signal, si_code) pairs
	// to kernelmode_fixup_or_oops; the generic result carries one cause.
	RuleFixupArgs
	// RulePoisonADRERR: riscv64 reports poison as a plain SIGBUS.
	RulePoisonADRERR
	// RuleRetryLivelock: riscv64 before 6.3 returns from a kernel-mode
	// fault that got VM_FAULT_RETRY with a fatal signal pending.
	RuleRetryLivelock
	// RulePoisonUnhandled: riscv64 before 6.6 does not decode the poison
	// bits: a user fault with only a poison bit hits BUG().
	RulePoisonUnhandled
	// RuleSigbusPoisonADRERR: arm64 tests VM_FAULT_SIGBUS before the
	// poison bits.
	RuleSigbusPoisonADRERR
	// RulePoisonLargeWins: arm64 takes si_addr_lsb from the hstate when
	// both poison bits are set.
	RulePoisonLargeWins
	// RulePoisonWithoutMemoryFailure: arm64 reports poison as
	// BUS_MCEERR_AR even without CONFIG_MEMORY_FAILURE.
	RulePoisonWithoutMemoryFailure
	// RuleUserNoContext: riscv64 and arm64 send a user-mode fault taken
	// with faults disabled or without an mm to no_context: the task dies.
	RuleUserNoContext
	// RuleSigsegvBeforeSigbus: s390x tests VM_FAULT_SIGSEGV before
	// VM_FAULT_SIGBUS and the poison bits.
	RuleSigsegvBeforeSigbus
	// RuleS390PoisonBUG: s390x before 6.13 reaches BUG() on
	// VM_FAULT_HWPOISON_LARGE (and before 6.11 on VM_FAULT_HWPOISON).
	RuleS390PoisonBUG
	// RuleS390MmapLockUninterruptible: s390x before 6.13 waits for the
	// mmap lock uninterruptibly.
	RuleS390MmapLockUninterruptible
	// RuleKernelSignalNumber: ppc64le hands bad_page_fault a signal
	// number for a failed kernel-mode fault.
	RuleKernelSignalNumber
	numRules
)

var rules = [numRules]Rule{
	RuleFixupArgs: {
		Name:    "fixup-signal-args",
		Arches:  []string{"x86_64"},
		Native:  "five kernelmode_fixup_or_oops call sites pass four different (signal, si_code) pairs; since 6.10 they change nothing",
		Generic: "a failed kernel-mode fault is KernFixup with one cause, the verdict a user access would have got",
		Reason:  "the arguments are dead since vsyscall's sig_on_uaccess_err went (6.10); one answer instead of four",
		Source:  "arch/x86/mm/fault.c do_user_addr_fault, mm_fault_error (6.12)",
	},
	RulePoisonADRERR: {
		Name:    "poison-as-adrerr",
		Arches:  []string{"riscv64", "s390x"},
		Native:  "VM_FAULT_HWPOISON and VM_FAULT_HWPOISON_LARGE raise SIGBUS BUS_ADRERR without si_addr_lsb, even with CONFIG_MEMORY_FAILURE",
		Generic: "SIGBUS BUS_MCEERR_AR with the poisoned page's shift in si_addr_lsb (BUS_ADRERR without CONFIG_MEMORY_FAILURE)",
		Reason:  "poison is the same event on every arch; a recovery-aware program (QEMU, databases) needs the code and the size of what was lost",
		Source:  "arch/riscv/mm/fault.c mm_fault_error (6.12); arch/s390/mm/fault.c do_exception, do_sigbus (6.12 and 6.18: s390 has no CONFIG_MEMORY_FAILURE, poison comes from PTE markers)",
	},
	RuleRetryLivelock: {
		Name:    "kernel-retry-fatal-signal",
		Arches:  []string{"riscv64"},
		Before:  config.Version{Major: 6, Minor: 3},
		Native:  "a kernel-mode fault that got VM_FAULT_RETRY with a fatal signal pending just returns: the uaccess instruction faults again, forever (livelock), and the kill is never delivered",
		Generic: "the fault fails: the exception-table fixup runs, the system call returns, and the fatal signal kills the task",
		Reason:  "Al Viro, linux-arch, 31 Jan 2023: VM_FAULT_RETRY with a fatal signal is a failed fault in kernel mode; fixed on riscv by d835eb3a57de (6.3), not backported to 6.1.y",
		Source:  "arch/riscv/mm/fault.c handle_page_fault (6.1.192: fault.c:325)",
	},
	RulePoisonUnhandled: {
		Name:    "poison-unhandled",
		Arches:  []string{"riscv64"},
		Before:  config.Version{Major: 6, Minor: 6},
		Native:  "mm_fault_error tests only OOM, SIGBUS and SIGSEGV: a user-mode fault whose result has only VM_FAULT_HWPOISON or VM_FAULT_HWPOISON_LARGE reaches BUG() (an oops that kills the task); beside SIGSEGV it is SIGSEGV SEGV_MAPERR",
		Generic: "SIGBUS BUS_MCEERR_AR with the poisoned page's shift in si_addr_lsb (BUS_ADRERR without CONFIG_MEMORY_FAILURE)",
		Reason:  "a poisoned page is a recoverable event for the process that touches it, not a kernel bug; fixed on riscv by \"riscv: Handle VM_FAULT_[HWPOISON|HWPOISON_LARGE] faults instead of panicking\" (Alexandre Ghiti, 6.6), not backported to 6.1.y",
		Source:  "arch/riscv/mm/fault.c mm_fault_error (6.1.192: fault.c:61-85)",
	},
	RuleSigbusPoisonADRERR: {
		Name:    "sigbus-with-poison-as-adrerr",
		Arches:  []string{"arm64"},
		Native:  "VM_FAULT_SIGBUS is tested before the poison bits: a result with both raises SIGBUS BUS_ADRERR without si_addr_lsb",
		Generic: "the poison bits are tested first, as x86 do_sigbus does: SIGBUS BUS_MCEERR_AR with the poisoned page's shift",
		Reason:  "a poisoned page is the more specific cause; reporting it lets a recovery-aware program act on the lost page",
		Source:  "arch/arm64/mm/fault.c do_page_fault (6.12; 6.1.192 the same order)",
	},
	RulePoisonLargeWins: {
		Name:    "poison-both-bits-large-wins",
		Arches:  []string{"arm64"},
		Native:  "with VM_FAULT_HWPOISON and VM_FAULT_HWPOISON_LARGE both set, si_addr_lsb is the huge page's shift (from the hstate index)",
		Generic: "the small page wins, as in x86 do_sigbus: si_addr_lsb is PAGE_SHIFT",
		Reason:  "one order for one event; x86 and powerpc already test VM_FAULT_HWPOISON first",
		Source:  "arch/arm64/mm/fault.c do_page_fault (6.12; 6.1.192 the same)",
	},
	RulePoisonWithoutMemoryFailure: {
		Name:    "poison-mceerr-without-memory-failure",
		Arches:  []string{"arm64"},
		Native:  "a poisoned page (a userfaultfd poison marker) raises SIGBUS BUS_MCEERR_AR with the page shift whether or not CONFIG_MEMORY_FAILURE is set: the branch has no #ifdef",
		Generic: "without CONFIG_MEMORY_FAILURE, SIGBUS BUS_ADRERR with si_addr_lsb 0, as x86 do_sigbus does",
		Reason:  "without memory-failure handling there is no recovery to enable; one answer per configuration on every arch",
		Source:  "arch/arm64/mm/fault.c do_page_fault, arm64_force_sig_mceerr (6.12; 6.1.192 the same)",
	},
	RuleUserNoContext: {
		Name:    "user-fault-no-context",
		Arches:  []string{"riscv64", "arm64"},
		Native:  "a fault with faulthandler_disabled() or no mm goes to no_context in user mode too: a user instruction has no exception-table entry, so the kernel dies (an oops)",
		Generic: "in user mode SIGSEGV SEGV_MAPERR, as for any address outside the address space (bad_area_nosemaphore); in kernel mode the fixup, else an oops",
		Reason:  "only a kernel bug lets a user-mode fault arrive with faults disabled or no mm; the task that faulted is not the culprit, and x86 already answers SIGSEGV",
		Source:  "arch/riscv/mm/fault.c handle_page_fault; arch/arm64/mm/fault.c do_page_fault: faulthandler_disabled() || !mm (6.12; 6.1.192 the same)",
	},
	RuleSigsegvBeforeSigbus: {
		Name:    "sigsegv-before-sigbus",
		Arches:  []string{"s390x"},
		Native:  "VM_FAULT_SIGSEGV is tested before VM_FAULT_SIGBUS and the poison bits: a result with both raises SIGSEGV SEGV_MAPERR",
		Generic: "the poison bits first, then VM_FAULT_SIGBUS, then VM_FAULT_SIGSEGV, as x86 mm_fault_error does: SIGBUS",
		Reason:  "one order on every arch; a bus error names the more specific cause than a missing mapping",
		Source:  "arch/s390/mm/fault.c do_exception (6.12 error:, 6.18 done: the same order)",
	},
	RuleS390PoisonBUG: {
		Name:    "poison-large-bug",
		Arches:  []string{"s390x"},
		Before:  config.Version{Major: 6, Minor: 13},
		Native:  "a result whose only error bit is VM_FAULT_HWPOISON_LARGE (a hugetlb poison marker), or before 6.11 VM_FAULT_HWPOISON, reaches BUG() in user and kernel mode: an oops that kills the task",
		Generic: "SIGBUS BUS_MCEERR_AR with the poisoned page's shift (BUS_ADRERR without CONFIG_MEMORY_FAILURE); in kernel mode the fixup",
		Reason:  "poison is recoverable for the process that touches it; fixed on s390 by df39038cd895 (6.11, VM_FAULT_HWPOISON) and a5600f05d3d7 \"s390/mm: Cleanup fault error handling\" (6.13)",
		Source:  "arch/s390/mm/fault.c do_exception (6.12: SIGBUS|HWPOISON only, then BUG())",
	},
	RuleS390MmapLockUninterruptible: {
		Name:    "mmap-lock-uninterruptible",
		Arches:  []string{"s390x"},
		Before:  config.Version{Major: 6, Minor: 13},
		Native:  "phase B takes the mmap lock with mmap_read_lock, which no signal ends (SIGKILL included), and sleeps for it also for a kernel instruction without an exception-table entry",
		Generic: "lock_mm_and_find_vma: a killable wait, and no wait at all for a kernel instruction without a fixup",
		Reason:  "a task blocked behind a writer must stay killable; converted by 57d1da4fd870 \"s390/mm: Convert to LOCK_MM_AND_FIND_VMA\" (6.13)",
		Source:  "arch/s390/mm/fault.c do_exception (6.12: mmap_read_lock, find_vma, expand_stack)",
	},
	RuleKernelSignalNumber: {
		Name:    "kernel-fault-signal-number",
		Arches:  []string{"ppc64le"},
		Native:  "___do_page_fault returns a signal number for a failed kernel-mode fault and bad_page_fault passes it to die() when there is no fixup: SIGSEGV for OOM, SIGBUS for a RETRY with a fatal signal pending, SIGKILL for any error with a fatal signal pending, each unlike what a user access would get",
		Generic: "a failed kernel-mode fault is KernFixup with one cause, the verdict a user access would have got",
		Reason:  "the number changes nothing but the oops message: the fixup runs, or the kernel dies, either way; one answer instead of three",
		Source:  "arch/powerpc/mm/fault.c ___do_page_fault, mm_fault_error, bad_page_fault (6.1.172 and a copy of 6.13 or later, the same)",
	},
}

func init() {
	for i := range rules {
		rules[i].ID = RuleID(i)
	}
}

// Rules returns the table, in order.
func Rules() []Rule {
	return append(make([]Rule, 0, len(rules)-1), rules[1:]...)
}

// Lookup returns the rule id names, or nil.
func Lookup(id RuleID) *Rule {
	if id == 0 || int(id) >= len(rules) {
		return nil
	}
	return &rules[id]
}

// ByName returns the rule called name, or nil.
func ByName(name string) *Rule {
	for i := 1; i < len(rules); i++ {
		if rules[i].Name == name {
			return &rules[i]
		}
	}
	return nil
}

// Bit is id's bit in the set kernel.Kernel.RulesNoted returns.
func (id RuleID) Bit() uint64 { return 1 << id }

// Noted returns the rules of a set of bits, in order.
func Noted(bits uint64) []*Rule {
	var out []*Rule
	for i := 1; i < len(rules); i++ {
		if bits&RuleID(i).Bit() != 0 {
			out = append(out, &rules[i])
		}
	}
	return out
}
