// Package hostrun runs scenarios on this machine's own Linux kernel: the
// oracle the model is checked against. It detects what the host supports
// and how its kernel is configured, translates each statement into
// commands for the executor (package host), and turns the real kernel's
// answers (signals with si_code, si_addr and si_addr_lsb, errnos, byte
// counts, wait statuses) into observations checked like the model's.
//
// Region names are bound to the addresses the kernel returns, so a
// scenario never depends on the absolute layout; `at=` maps with
// MAP_FIXED_NOREPLACE. Every statement has a time limit: one that does
// not finish is reported as blocked, never hangs the run.
package hostrun
