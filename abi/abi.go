// Package abi holds the user-visible Linux ABI that faults are reported
// through: signal numbers, si_code values and errno values, with their C
// names. The numbers are those of the generic Linux ABI shared by x86_64,
// arm64 and riscv64.
package abi

import (
	"fmt"
	"sort"
)

// Signal is a Linux signal number.
type Signal int

// Signals of the generic Linux ABI (asm-generic/signal.h, x86_64 agrees).
const (
	SIGHUP    Signal = 1
	SIGINT    Signal = 2
	SIGQUIT   Signal = 3
	SIGILL    Signal = 4
	SIGTRAP   Signal = 5
	SIGABRT   Signal = 6
	SIGBUS    Signal = 7
	SIGFPE    Signal = 8
	SIGKILL   Signal = 9
	SIGUSR1   Signal = 10
	SIGSEGV   Signal = 11
	SIGUSR2   Signal = 12
	SIGPIPE   Signal = 13
	SIGALRM   Signal = 14
	SIGTERM   Signal = 15
	SIGSTKFLT Signal = 16
	SIGCHLD   Signal = 17
	SIGCONT   Signal = 18
	SIGSTOP   Signal = 19
	SIGTSTP   Signal = 20
	SIGTTIN   Signal = 21
	SIGTTOU   Signal = 22
	SIGURG    Signal = 23
	SIGXCPU   Signal = 24
	SIGXFSZ   Signal = 25
	SIGVTALRM Signal = 26
	SIGPROF   Signal = 27
	SIGWINCH  Signal = 28
	SIGIO     Signal = 29
	SIGPWR    Signal = 30
	SIGSYS    Signal = 31
)

// NSig is one more than the highest standard signal number.
const NSig = 32

var signalNames = map[Signal]string{
	SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL",
	SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE",
	SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1", SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2",
	SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM", SIGSTKFLT: "SIGSTKFLT",
	SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP",
	SIGTTIN: "SIGTTIN", SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU",
	SIGXFSZ: "SIGXFSZ", SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH",
	SIGIO: "SIGIO", SIGPWR: "SIGPWR", SIGSYS: "SIGSYS",
}

func (s Signal) String() string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(s))
}

// DefaultAction is what a signal does when no handler is installed.
type DefaultAction int

// Default actions, as signal(7) lists them.
const (
	ActTerm DefaultAction = iota // terminate the process
	ActCore                      // terminate and dump core
	ActIgn                       // ignore
	ActStop                      // stop the process
	ActCont                      // continue a stopped process
)

// Default reports the default action of s (kernel/signal.c's sig_kernel_* sets).
func (s Signal) Default() DefaultAction {
	switch s {
	case SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS:
		return ActCore
	case SIGCHLD, SIGURG, SIGWINCH:
		return ActIgn
	case SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU:
		return ActStop
	case SIGCONT:
		return ActCont
	}
	return ActTerm
}

// Catchable reports whether a handler may be installed for s.
func (s Signal) Catchable() bool { return s != SIGKILL && s != SIGSTOP }

// ParseSignal returns the signal named name ("SIGSEGV").
func ParseSignal(name string) (Signal, bool) {
	s, ok := signalsByName[name]
	return s, ok
}

// signalsByName is signalNames the other way round (a parser looks up a
// signal in every expectation).
var signalsByName = func() map[string]Signal {
	m := make(map[string]Signal, len(signalNames))
	for s, n := range signalNames {
		m[n] = s
	}
	return m
}()

// SignalNames lists every signal name, in numeric order.
func SignalNames() []string {
	out := make([]string, 0, len(signalNames))
	for s := Signal(1); s < NSig; s++ {
		out = append(out, signalNames[s])
	}
	return out
}

// Code is an si_code value. Its meaning depends on the signal.
type Code int

// si_code values (include/uapi/asm-generic/siginfo.h).
const (
	SI_USER    Code = 0
	SI_KERNEL  Code = 0x80
	SI_QUEUE   Code = -1
	SI_TIMER   Code = -2
	SI_MESGQ   Code = -3
	SI_ASYNCIO Code = -4
	SI_SIGIO   Code = -5
	SI_TKILL   Code = -6

	SEGV_MAPERR  Code = 1
	SEGV_ACCERR  Code = 2
	SEGV_BNDERR  Code = 3
	SEGV_PKUERR  Code = 4
	SEGV_ACCADI  Code = 5
	SEGV_ADIDERR Code = 6
	SEGV_ADIPERR Code = 7
	SEGV_MTEAERR Code = 8
	SEGV_MTESERR Code = 9
	SEGV_CPERR   Code = 10

	BUS_ADRALN    Code = 1
	BUS_ADRERR    Code = 2
	BUS_OBJERR    Code = 3
	BUS_MCEERR_AR Code = 4
	BUS_MCEERR_AO Code = 5
)

type codeName struct {
	sig  Signal // 0: valid with any signal
	code Code
	name string
}

var codeNames = []codeName{
	{0, SI_USER, "SI_USER"}, {0, SI_KERNEL, "SI_KERNEL"}, {0, SI_QUEUE, "SI_QUEUE"},
	{0, SI_TIMER, "SI_TIMER"}, {0, SI_MESGQ, "SI_MESGQ"}, {0, SI_ASYNCIO, "SI_ASYNCIO"},
	{0, SI_SIGIO, "SI_SIGIO"}, {0, SI_TKILL, "SI_TKILL"},
	{SIGSEGV, SEGV_MAPERR, "SEGV_MAPERR"}, {SIGSEGV, SEGV_ACCERR, "SEGV_ACCERR"},
	{SIGSEGV, SEGV_BNDERR, "SEGV_BNDERR"}, {SIGSEGV, SEGV_PKUERR, "SEGV_PKUERR"},
	{SIGSEGV, SEGV_ACCADI, "SEGV_ACCADI"}, {SIGSEGV, SEGV_ADIDERR, "SEGV_ADIDERR"},
	{SIGSEGV, SEGV_ADIPERR, "SEGV_ADIPERR"}, {SIGSEGV, SEGV_MTEAERR, "SEGV_MTEAERR"},
	{SIGSEGV, SEGV_MTESERR, "SEGV_MTESERR"}, {SIGSEGV, SEGV_CPERR, "SEGV_CPERR"},
	{SIGBUS, BUS_ADRALN, "BUS_ADRALN"}, {SIGBUS, BUS_ADRERR, "BUS_ADRERR"},
	{SIGBUS, BUS_OBJERR, "BUS_OBJERR"}, {SIGBUS, BUS_MCEERR_AR, "BUS_MCEERR_AR"},
	{SIGBUS, BUS_MCEERR_AO, "BUS_MCEERR_AO"},
}

// CodeName returns the C name of code as it is read with signal sig.
func CodeName(sig Signal, code Code) string {
	for _, c := range codeNames {
		if c.code == code && (c.sig == sig || (c.sig == 0 && (code <= 0 || code == SI_KERNEL))) {
			return c.name
		}
	}
	return fmt.Sprintf("%d", int(code))
}

// ParseCode returns the si_code named name and the signal it belongs to
// (0 for the SI_* codes, which any signal may carry).
func ParseCode(name string) (Code, Signal, bool) {
	for _, c := range codeNames {
		if c.name == name {
			return c.code, c.sig, true
		}
	}
	return 0, 0, false
}

// Errno is a Linux errno value.
type Errno int

// The errno values scenarios and the model use (asm-generic/errno-base.h, errno.h).
const (
	EPERM        Errno = 1
	ENOENT       Errno = 2
	ESRCH        Errno = 3
	EINTR        Errno = 4
	EIO          Errno = 5
	ENXIO        Errno = 6
	E2BIG        Errno = 7
	ENOEXEC      Errno = 8
	EBADF        Errno = 9
	ECHILD       Errno = 10
	EAGAIN       Errno = 11
	ENOMEM       Errno = 12
	EACCES       Errno = 13
	EFAULT       Errno = 14
	ENOTBLK      Errno = 15
	EBUSY        Errno = 16
	EEXIST       Errno = 17
	EXDEV        Errno = 18
	ENODEV       Errno = 19
	ENOTDIR      Errno = 20
	EISDIR       Errno = 21
	EINVAL       Errno = 22
	ENFILE       Errno = 23
	EMFILE       Errno = 24
	ENOTTY       Errno = 25
	ETXTBSY      Errno = 26
	EFBIG        Errno = 27
	ENOSPC       Errno = 28
	ESPIPE       Errno = 29
	EROFS        Errno = 30
	EMLINK       Errno = 31
	EPIPE        Errno = 32
	EDOM         Errno = 33
	ERANGE       Errno = 34
	EDEADLK      Errno = 35
	ENAMETOOLONG Errno = 36
	ENOLCK       Errno = 37
	ENOSYS       Errno = 38
	ENOTEMPTY    Errno = 39
	ELOOP        Errno = 40
	EOVERFLOW    Errno = 75
	EOPNOTSUPP   Errno = 95
	ETIMEDOUT    Errno = 110
	ECANCELED    Errno = 125
	EOWNERDEAD   Errno = 130
	EHWPOISON    Errno = 133
)

var errnoNames = map[Errno]string{
	EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
	ENXIO: "ENXIO", E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD",
	EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT",
	ENOTBLK: "ENOTBLK", EBUSY: "EBUSY", EEXIST: "EEXIST", EXDEV: "EXDEV",
	ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
	ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", ETXTBSY: "ETXTBSY",
	EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE", EROFS: "EROFS",
	EMLINK: "EMLINK", EPIPE: "EPIPE", EDOM: "EDOM", ERANGE: "ERANGE",
	EDEADLK: "EDEADLK", ENAMETOOLONG: "ENAMETOOLONG", ENOLCK: "ENOLCK",
	ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY", ELOOP: "ELOOP", EOVERFLOW: "EOVERFLOW",
	EOPNOTSUPP: "EOPNOTSUPP", ETIMEDOUT: "ETIMEDOUT", ECANCELED: "ECANCELED",
	EOWNERDEAD: "EOWNERDEAD", EHWPOISON: "EHWPOISON",
}

// Error makes an Errno usable as an error; errors.Is compares numbers.
func (e Errno) Error() string { return e.String() }

func (e Errno) String() string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ParseErrno returns the errno named name ("EFAULT").
func ParseErrno(name string) (Errno, bool) {
	for e, n := range errnoNames {
		if n == name {
			return e, true
		}
	}
	return 0, false
}

// ErrnoNames lists every errno name the package knows, sorted.
func ErrnoNames() []string {
	out := make([]string, 0, len(errnoNames))
	for _, n := range errnoNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ArchName returns the kernel's name of the architecture Go calls goarch
// (what uname -m prints: x86_64 for amd64, loongarch64 for loong64), or
// "" for one faultline knows no name for.
func ArchName(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64", "riscv64", "ppc64le", "s390x":
		return goarch
	case "loong64":
		return "loongarch64"
	}
	return ""
}
