package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/conform"
)

func newConformCmd(stdout, stderr io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "conform [PATH...]",
		Short: "Run scenarios on the host kernel and on the model, and report every disagreement",
		Long: `Run each scenario on this machine's own Linux kernel, through real system
calls, and on the model of the host's architecture configured as the host
is (default: the corpus built into the binary). Each scenario is classified:

  agree              the expectation, the host and the model agree
  model wrong        the model and the real kernel differ, whatever the
                     expectation says
  expectation wrong  the model and the real kernel agree, against the
                     expectation
  skipped            the host cannot run it (a missing feature, a pinned
                     config value the host does not have, a model-only
                     statement or outcome); the reason is printed
  error              a run broke

The host run builds a small C executor with the machine's C compiler and
drives it statement by statement: forks are real forks, threads real
threads. Every statement has a time limit; one that does not finish is
reported as blocked. Memory cgroups and the hugetlb pool need root.

Exit status: 0 when every scenario that ran agrees three ways, 1 when one
does not, 2 on errors in the files or when the host cannot run scenarios.
SIGINT or SIGTERM stops the run: the scenario in flight is torn down (its
processes killed, its memory cgroup removed, vm.nr_hugepages restored,
its temporary files removed) and conform exits with 128 + the signal's
number (130, 143); a second signal ends it at once. If conform is killed
outright, its executor processes die with it, and the next conform run
removes what it left.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, loadErrs := loadFiles(args)
			if len(loadErrs) > 0 {
				return &exitError{2, strings.Join(loadErrs, "\n")}
			}
			ctx, got, stop := interruptible(cmd.Context())
			defer stop()
			err := runConform(ctx, files, asJSON, stdout, stderr)
			if sig := got(); sig != 0 {
				return &exitError{128 + int(sig), fmt.Sprintf("interrupted by %s: the host run was torn down", sigName(sig))}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	return cmd
}

type conformSummary struct {
	Agree            int            `json:"agree"`
	ModelWrong       int            `json:"model_wrong"`
	ExpectationWrong int            `json:"expectation_wrong"`
	Skipped          int            `json:"skipped"`
	Errors           int            `json:"errors"`
	FileErrors       int            `json:"file_errors"`
	SkipReasons      map[string]int `json:"skip_reasons,omitempty"`
	Seconds          float64        `json:"seconds"`
}

type jsonConform struct {
	Host       *conform.Host    `json:"host"`
	Results    []conform.Result `json:"results"`
	FileErrors []string         `json:"file_errors,omitempty"`
	Summary    conformSummary   `json:"summary"`
}

func runConform(ctx context.Context, files []source, asJSON bool, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	start := time.Now()
	h, err := conform.Detect(ctx)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	defer h.Close()
	if !asJSON {
		printHost(stdout, h)
	}
	sum := conformSummary{SkipReasons: map[string]int{}}
	results := []conform.Result{}
	fileErrs := []string{}
	for _, f := range files {
		if ctx.Err() != nil {
			break // interrupted: the run in flight has been torn down
		}
		s := parseOrReport(f, asJSON, stderr, &fileErrs)
		if s == nil {
			sum.FileErrors++
			continue
		}
		res := conform.RunOne(ctx, h, s)
		results = append(results, res)
		switch res.Class {
		case conform.Agree:
			sum.Agree++
		case conform.ModelWrong:
			sum.ModelWrong++
		case conform.ExpectationWrong:
			sum.ExpectationWrong++
		case conform.Skipped:
			sum.Skipped++
			sum.SkipReasons[skipKind(res.Reason)]++
		case conform.Broken:
			sum.Errors++
		}
		if !asJSON {
			printConform(stdout, res)
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "=>" stays as written
		if err := enc.Encode(jsonConform{Host: h, Results: results, FileErrors: fileErrs, Summary: sum}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "\n%d agree, %d model wrong, %d expectation wrong, %d skipped, %d errors (%d scenarios in %.1fs)\n",
			sum.Agree, sum.ModelWrong, sum.ExpectationWrong, sum.Skipped, sum.Errors, len(results), sum.Seconds)
		reasons := make([]string, 0, len(sum.SkipReasons))
		for r := range sum.SkipReasons {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(stdout, "  skipped %3d: %s\n", sum.SkipReasons[r], r)
		}
	}
	switch {
	case sum.FileErrors > 0:
		return &exitError{code: 2}
	case sum.ModelWrong+sum.ExpectationWrong+sum.Errors > 0:
		return &exitError{code: 1}
	}
	return nil
}

// position matches the file:line:column a reason may name.
var position = regexp.MustCompile(`\S+:\d+:\d+: ?`)

// skipKind groups skip reasons for the summary: the reason without the
// positions it names, and without the parenthesized detail.
func skipKind(reason string) string {
	if i := strings.Index(reason, " ("); i > 0 && strings.HasSuffix(reason, ")") {
		reason = reason[:i]
	}
	return strings.TrimSpace(position.ReplaceAllString(reason, ""))
}

func printHost(w io.Writer, h *conform.Host) {
	root := "not root"
	if h.Root {
		root = "root"
	}
	fmt.Fprintf(w, "host: %s, Linux %s, %s\n", h.Arch, h.Kernel, root)
	fmt.Fprintf(w, "config: %s\n", h.Config.String())
	keys := make([]string, 0, len(h.Missing))
	for k := range h.Missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "lacks %s: %s\n", k, h.Missing[k])
	}
	for _, n := range h.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
}

func printConform(w io.Writer, r conform.Result) {
	label := strings.ToUpper(r.Class.String())
	switch r.Class {
	case conform.Skipped, conform.Broken:
		fmt.Fprintf(w, "%-17s %s: %s\n", label, r.Scenario, r.Reason)
	default:
		fmt.Fprintf(w, "%-17s %s\n", label, r.Scenario)
	}
	for _, d := range r.Diffs {
		fmt.Fprintf(w, "      %s: %s\n", d.Pos, d.Stmt)
		fmt.Fprintf(w, "        expected: %s\n", d.Expected)
		fmt.Fprintf(w, "        host:     %s\n", d.Host)
		fmt.Fprintf(w, "        model:    %s\n", d.Model)
	}
}

// interruptible returns a context that the first SIGINT or SIGTERM
// cancels, a function that says which signal that was (0 if none came),
// and stop, which ends the diversion. After the first signal the default
// action is back: a second one ends the program at once (its executors die
// with it; the next run cleans up the rest).
func interruptible(parent context.Context) (ctx context.Context, got func() syscall.Signal, stop func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var which syscall.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			mu.Lock()
			which = sig
			mu.Unlock()
			cancel(errors.New(sigName(sig)))
		case <-done:
		}
	}()
	got = func() syscall.Signal {
		mu.Lock()
		defer mu.Unlock()
		return which
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
	return ctx, got, stop
}

// sigName is the conventional name of the signals interruptible diverts.
func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
