// Package vmfault is the vocabulary shared by the resolver and the generic
// fault handler: the VM_FAULT_* result bits of handle_mm_fault and the
// FAULT_FLAG_* flags a fault is resolved with (include/linux/mm_types.h).
//
// Only the generic handler (package fault) decodes Reason bits into a
// verdict; architecture front ends never import this package.
package vmfault

import (
	"strconv"
	"strings"

	"github.com/faultline/faultline/sched"
)

// Reason is a vm_fault_t: the bitmask handle_mm_fault returns.
type Reason uint32

// VM_FAULT_* bits (enum vm_fault_reason).
const (
	OOM           Reason = 0x000001 // allocation failed
	SigBus        Reason = 0x000002 // mapping exists but cannot be backed
	Major         Reason = 0x000004 // I/O was needed
	HWPoison      Reason = 0x000010 // poisoned small page
	HWPoisonLarge Reason = 0x000020 // poisoned huge page; hstate index in HIndexMask
	SigSegv       Reason = 0x000040 // the core asks for SIGSEGV (guard marker, ...)
	NoPage        Reason = 0x000100 // the entry was installed, or raced; success
	Locked        Reason = 0x000200 // ->fault returned a locked page (internal)
	Retry         Reason = 0x000400 // the lock was dropped; the caller must retry
	Fallback      Reason = 0x000800 // huge fault failed, fall back (internal)
	DoneCOW       Reason = 0x001000 // ->fault did the COW itself (internal)
	NeedDSync     Reason = 0x002000 // DAX sync fault (internal)
	Completed     Reason = 0x004000 // done, and the lock was released

	// HIndexMask holds the hstate index of a HWPoisonLarge fault.
	HIndexMask Reason = 0x0f0000

	// Error is every bit that means the fault failed (VM_FAULT_ERROR).
	Error = OOM | SigBus | SigSegv | HWPoison | HWPoisonLarge | Fallback
)

// SetHIndex encodes hstate index i into a reason (VM_FAULT_SET_HINDEX).
func SetHIndex(i int) Reason { return Reason(i<<16) & HIndexMask }

// HIndex decodes the hstate index (VM_FAULT_GET_HINDEX).
func (r Reason) HIndex() int { return int(r&HIndexMask) >> 16 }

var reasonNames = []struct {
	bit  Reason
	name string
}{
	{OOM, "OOM"}, {SigBus, "SIGBUS"}, {Major, "MAJOR"}, {HWPoison, "HWPOISON"},
	{HWPoisonLarge, "HWPOISON_LARGE"}, {SigSegv, "SIGSEGV"}, {NoPage, "NOPAGE"},
	{Locked, "LOCKED"}, {Retry, "RETRY"}, {Fallback, "FALLBACK"},
	{DoneCOW, "DONE_COW"}, {NeedDSync, "NEEDDSYNC"}, {Completed, "COMPLETED"},
}

func (r Reason) String() string {
	if r == 0 {
		return "0"
	}
	var parts []string
	for _, n := range reasonNames {
		if r&n.bit != 0 {
			parts = append(parts, n.name)
			r &^= n.bit
		}
	}
	if h := r & HIndexMask; h != 0 {
		parts = append(parts, "HINDEX("+strconv.Itoa(r.HIndex())+")")
		r &^= HIndexMask
	}
	if r != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(r), 16))
	}
	return strings.Join(parts, "|")
}

// Flags are FAULT_FLAG_* bits (enum fault_flag).
type Flags uint32

// FAULT_FLAG_* bits.
const (
	FlagWrite         Flags = 1 << 0  // write access
	FlagMkwrite       Flags = 1 << 1  // mkwrite of an existing PTE
	FlagAllowRetry    Flags = 1 << 2  // the resolver may drop the lock and return Retry
	FlagRetryNowait   Flags = 1 << 3  // return Retry without dropping the lock (GUP only)
	FlagKillable      Flags = 1 << 4  // waits end on fatal signals
	FlagTried         Flags = 1 << 5  // this is a retry
	FlagUser          Flags = 1 << 6  // the fault came from user mode
	FlagRemote        Flags = 1 << 7  // GUP on a foreign mm
	FlagInstruction   Flags = 1 << 8  // instruction fetch
	FlagInterruptible Flags = 1 << 9  // waits end on any signal
	FlagUnshare       Flags = 1 << 10 // break COW for a read-only pin
	FlagOrigPTEValid  Flags = 1 << 11 // internal: the original PTE is valid
	FlagVMALock       Flags = 1 << 12 // the fault holds the per-VMA lock, not the mmap lock

	// FlagDefault is what every architecture starts a fault with.
	FlagDefault = FlagAllowRetry | FlagKillable | FlagInterruptible
)

var flagNames = []struct {
	bit  Flags
	name string
}{
	{FlagWrite, "WRITE"}, {FlagMkwrite, "MKWRITE"}, {FlagAllowRetry, "ALLOW_RETRY"},
	{FlagRetryNowait, "RETRY_NOWAIT"}, {FlagKillable, "KILLABLE"}, {FlagTried, "TRIED"},
	{FlagUser, "USER"}, {FlagRemote, "REMOTE"}, {FlagInstruction, "INSTRUCTION"},
	{FlagInterruptible, "INTERRUPTIBLE"}, {FlagUnshare, "UNSHARE"},
	{FlagOrigPTEValid, "ORIG_PTE_VALID"}, {FlagVMALock, "VMA_LOCK"},
}

func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, n := range flagNames {
		if f&n.bit != 0 {
			parts = append(parts, n.name)
			f &^= n.bit
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return strings.Join(parts, "|")
}

// AllowRetryFirst reports whether this is the first attempt of a fault that
// may drop its lock (fault_flag_allow_retry_first): only then may a
// resolver drop the lock for I/O.
func (f Flags) AllowRetryFirst() bool {
	return f&(FlagAllowRetry|FlagTried) == FlagAllowRetry
}

// SleepMode is the task state a resolver sleeps in under these flags, as
// userfaultfd_get_blocking_state chooses it: interruptible, else killable,
// else uninterruptible.
func (f Flags) SleepMode() sched.Mode {
	switch {
	case f&FlagInterruptible != 0:
		return sched.Interruptible
	case f&FlagKillable != 0:
		return sched.Killable
	}
	return sched.Uninterruptible
}
