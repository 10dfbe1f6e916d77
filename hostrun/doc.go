// Package hostrun runs scenarios on this machine's own Linux kernel: the
// oracle the model is checked against. It detects what the host supports
// and how its kernel is configured, translates each statement into
// commands for the executor (package host), and turns the real kernel's
// answers (signals with si_code, si_addr and si_addr_lsb, errnos, byte
// counts, wait statuses) into observations checked like the model's.
//
// Region names are bound to the addresses the kernel returns, so a
// scenario never depends on the absolute layout; `at=` maps with
// MAP_FIXED_NOREPLACE. A statement is blocked when the kernel's own
// state says its thread is: asleep in a userfaultfd wait (or, for an event
// read, in the executor's poll), or stopped; no time race decides it.
// Where the kernel hides where threads sleep, a thread asleep without
// answering for a while counts as blocked instead (Host.Notes says so).
// Any other statement has a generous limit (DefaultLimit, times the
// timeout scale); one that passes it ends the run as timed out, never as
// blocked, and never hangs the run.
package hostrun
