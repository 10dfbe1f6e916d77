// Package host runs scenario statements on the machine's own Linux kernel.
//
// A Go program cannot fork without exec, and a scenario's fork must be a
// real fork, so the work is done by a small C program, the executor
// (executor.c, embedded in this package). Build compiles it with the
// machine's C compiler; Start runs it for one scenario run; each actor (the
// main process, each thread, each forked child) is one connection carrying
// one command and one reply at a time. PROTOCOL.md in this directory is the
// wire protocol and the list of commands.
//
// The package is the low-level client only: it knows the protocol's lines,
// not scenarios. Off Linux, Build and Start return an error.
package host
