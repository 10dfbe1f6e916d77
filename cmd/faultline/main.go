// Command faultline runs page-fault scenarios on a model of the Linux
// fault path, with one generic page-fault handler under thin
// architecture front ends beside each architecture's native handler,
// checks them against the host's kernel, and lists what converting an
// architecture to the generic handler changes.
//
// Usage:
//
//	faultline run [PATH...] [-run REGEX] [--arch ARCH] [--handler native|generic|both] [--kernel V] [--json|--ktap] [--timeout-scale FACTOR] [--allow-skip-all]
//	faultline conform [PATH...] [-run REGEX] [--arch arm64|riscv64|ppc64le|s390x [--kernel V]] [--json|--ktap] [--timeout-scale FACTOR] [--allow-skip-all]
//	faultline guest --arch arm64|riscv64|ppc64le|s390x [--kernel V] [PATH...] [-run REGEX] [--steps] [--json] [--timeout-scale FACTOR]
//	faultline setup [--arch arm64|riscv64|ppc64le|s390x]... [--dry-run]
//	faultline observe [PATH...] [--arch ARCH] [--handler native|generic|both] [--kernel V] [--host] [--out DIR]
//	faultline diff [PATH...] [-run REGEX] [--arch ARCH] [--kernel V] [--json|--markdown] [--timeout-scale FACTOR]
//	faultline explain FILE[:LINE] [--arch ARCH] [--handler native|generic|both] [--kernel V] [--json]
//	faultline report [FILE...|-] [-o FILE]
//	faultline list [PATH...] [-run REGEX] [--json]
//	faultline bench [--json] [--runs N] [--ops N] [--threads N] [--model-only|--host-only] [-run REGEX] [--handler generic|native]
//	faultline version
//	faultline help [COMMAND | TOPIC]
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/guest"
)

// exitError ends the program with a status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	if os.Getpid() == 1 {
		// The /init of a qemu guest (conform --arch): the kernel passes
		// no subcommand.
		os.Exit(guest.Init(os.Stdout))
	}
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit status.
func execute(args []string, stdout, stderr io.Writer) int {
	return executeIn(args, os.Stdin, stdout, stderr)
}

// executeIn is execute with stdin for "-" as a PATH.
func executeIn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	var prof profiler
	prof.flags(root)
	defer func() {
		if err := prof.stop(); err != nil {
			fmt.Fprintln(stderr, "faultline:", err)
		}
	}()
	root.SetIn(stdin)
	root.SetArgs(goStyleFlags(args))
	err := root.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, "faultline:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "faultline:", err)
	return 2
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "faultline",
		Short: "Run page-fault scenarios on a model of the Linux fault path",
		Long: `faultline models the Linux page-fault path with one generic fault handler
(the generic_page_fault() proposed on the kernel lists) under thin
architecture front ends, and runs scenarios — small .fault files that map
memory, fault, and state the expected outcome — on it.

The scenario language is described in docs/scenario-format.md, which
"faultline help scenario-format" prints.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr))
	root.AddCommand(newConformCmd(stdout, stderr))
	root.AddCommand(newDiffCmd(stdout, stderr))
	root.AddCommand(newObserveCmd(stdout, stderr))
	root.AddCommand(newExplainCmd(stdout, stderr))
	root.AddCommand(newSetupCmd(stdout, stderr))
	root.AddCommand(newGuestCmd(stdout, stderr))
	root.AddCommand(newReportCmd(stdout))
	root.AddCommand(newGuestInitCmd(stdout))
	root.AddCommand(newListCmd(stdout, stderr))
	root.AddCommand(newBenchCmd(stdout, stderr))
	root.AddCommand(newVersionCmd(stdout))
	setVersion(root)
	addHelp(root)
	return root
}
