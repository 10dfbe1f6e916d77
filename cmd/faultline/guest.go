package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/conform"
	"github.com/faultline/faultline/guest"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/stream"
	"github.com/faultline/faultline/timeout"
)

// newGuestInitCmd is the hidden in-guest entry point (the binary runs it
// by itself as PID 1; the command is there to run it by hand).
func newGuestInitCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    "guest-init",
		Short:  "Run as a qemu guest's /init: run the guest's scenarios, print the results, power off",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := guest.Init(stdout); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}

// newSetupCmd installs what guests need.
func newSetupCmd(stdout, stderr io.Writer) *cobra.Command {
	var arches []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "setup [--arch ARCH]...",
		Short: "Install what conform --arch and guest need: qemu, firmware, cross compilers (apt-get)",
		Long: `Install with apt-get install the Debian packages that conform --arch and
faultline guest need and this machine lacks, per guest arch (` + strings.Join(guest.Arches, ", ") + `):
qemu (qemu-system-arm, qemu-system-misc for riscv64 and s390x,
qemu-system-ppc), the riscv64 firmware (opensbi), the cross compilers and
their static libc (gcc-aarch64-linux-gnu, gcc-riscv64-linux-gnu,
gcc-powerpc64le-linux-gnu, gcc-s390x-linux-gnu, libc6-dev-*-cross; for
loongarch64 clang-19 and lld-19), mke2fs (e2fsprogs), xz (xz-utils) and
zstd. What bookworm lacks (qemu 10 for s390x 7.2 and loongarch64, the
loong64 libc and firmware) is fetched into the cache by the run, not
installed. Without --arch: every arch. Needs
root (or apt-get's privileges). --dry-run prints the command. The kernels
themselves are not installed: conform --arch fetches them into the user's
cache.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(arches) == 0 {
				arches = guest.Arches
			}
			seen := map[string]bool{}
			var pkgs []string
			for _, a := range arches {
				if guest.Tools(a) == nil {
					return &exitError{2, fmt.Sprintf("--arch %s: no guests of that arch (known: %s)", a, strings.Join(guest.Arches, ", "))}
				}
				for _, p := range guest.Missing(a) {
					if !seen[p] {
						seen[p] = true
						pkgs = append(pkgs, p)
					}
				}
			}
			if len(pkgs) == 0 {
				fmt.Fprintln(stdout, "setup: everything conform --arch needs is installed")
				return nil
			}
			sort.Strings(pkgs)
			line := append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, pkgs...)
			fmt.Fprintln(stdout, "setup:", strings.Join(line, " "))
			if dryRun {
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, line[0], line[1:]...)
			c.Stdout, c.Stderr = stdout, stderr
			if err := c.Run(); err != nil {
				return &exitError{2, "setup: " + err.Error()}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&arches, "arch", nil, "the guest arch(es) to set up (default: all of "+strings.Join(guest.Arches, ", ")+")")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the apt-get command, do not run it")
	return cmd
}

// guestInfo is what conform --arch knows of its guest.
type guestInfo struct {
	Spec        guest.Spec      `json:"spec"`
	Release     string          `json:"release"`
	Packages    []guest.Package `json:"packages"`
	Host        json.RawMessage `json:"detected,omitempty"`
	ModelConfig string          `json:"model_config"`
	Notes       []string        `json:"notes,omitempty"`
	BootSeconds float64         `json:"boot_seconds"`
	// ScenarioSeconds is each scenario's time in the guest, by file.
	ScenarioSeconds map[string]float64 `json:"scenario_seconds,omitempty"`
	Seconds         float64            `json:"seconds"`
	Error           string             `json:"error,omitempty"`
}

// runGuestConform is conform --arch: the scenarios run in a qemu guest
// of spec's kernel, each judged on the host against the arch's model
// configured as the guest detected itself (conform.Judge).
func runGuestConform(ctx context.Context, files []source, loadErrs []string, spec guest.Spec, scale timeout.Scale, asJSON, ktap bool, b bounds, stdout, stderr io.Writer) error {
	start := time.Now()
	kt, stdout := ktapOut(ktap, stdout)
	defer kt.end()
	sum, fileErrs := loadErrors(loadErrs, asJSON, kt, stderr)
	kt.begin(len(files))
	var parsed []*scenario.Scenario
	var gs []guest.Scenario
	for _, f := range files {
		n := len(fileErrs)
		s := parseOrReport(f, asJSON, stderr, &fileErrs)
		if s == nil {
			sum.FileErrors++
			kt.fileError(f.name, fileErrs[n:])
			continue
		}
		parsed = append(parsed, s)
		gs = append(gs, guest.Scenario{Name: f.name, Src: f.src})
	}
	logf := func(s string) {
		if !asJSON {
			fmt.Fprintln(stderr, "guest:", s)
		}
	}
	p, err := guest.Prepare(ctx, spec, gs, scale, logf)
	if err != nil {
		return &exitError{2, err.Error()}
	}
	defer p.Close()
	logf(fmt.Sprintf("booting %s (%s) with %d scenarios", spec, p.Kernel.Release, len(gs)))
	boot := p.Machine.Run(ctx, nil)
	info := guestInfo{Spec: spec, Release: p.Kernel.Release, Packages: p.Kernel.Packages, Host: boot.RawHost, BootSeconds: boot.BootSeconds, Seconds: boot.Seconds}
	if boot.Err != nil {
		info.Error = boot.Err.Error()
	}
	if boot.Host == nil {
		msg := "the guest reported nothing"
		if boot.Err != nil {
			msg = boot.Err.Error()
		}
		if tail := boot.ConsoleTail(20); tail != "" {
			msg += "\nconsole:\n" + tail
		}
		if boot.TimedOut {
			return timedOut(1, "guest boot")
		}
		return &exitError{2, msg}
	}
	kcfg, err := guest.ReadKconfig(p.Kernel.Config)
	if err != nil {
		info.Notes = append(info.Notes, "kernel config: "+err.Error())
	}
	cfg, notes := guest.ModelConfig(boot.Host, kcfg)
	info.Notes = append(info.Notes, notes...)
	info.ModelConfig = cfg.String()
	if !asJSON {
		printGuest(stdout, info, boot.Host, true)
	}
	byIndex := map[int]guest.Result{}
	info.ScenarioSeconds = map[string]float64{}
	var times []float64
	for _, r := range boot.Results {
		byIndex[r.Index] = r
		info.ScenarioSeconds[r.File] = r.Seconds
		if r.Skip == "" {
			times = append(times, r.Seconds)
		}
	}
	sort.Float64s(times)
	results := []conform.Result{}
	for i, s := range parsed {
		r, ok := byIndex[i]
		var res conform.Result
		switch {
		case !ok && boot.TimedOut:
			res = conform.Result{Scenario: s.Name, File: s.Pos.File, Arch: spec.Arch, Class: conform.TimedOut, Reason: "guest: " + boot.Err.Error()}
		case !ok:
			why := "the guest ended before this scenario"
			if boot.Err != nil {
				why = boot.Err.Error()
			}
			res = conform.Result{Scenario: s.Name, File: s.Pos.File, Arch: spec.Arch, Class: conform.Broken, Reason: "guest: " + why}
		case r.Skip != "":
			res = conform.Result{Scenario: s.Name, File: s.Pos.File, Arch: spec.Arch, Class: conform.Skipped, Reason: r.Skip}
		default:
			res = conform.Judge(ctx, spec.Arch, cfg, s, r.Report)
		}
		results = append(results, res)
		tally(&sum, res)
		if kt != nil {
			kt.conform(res)
		} else if !asJSON {
			printConform(stdout, res)
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	if asJSON {
		if err := writeConformStream(stdout, guestHostLine(info, boot.Host, cfg), results, fileErrs, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "\nguest: booted in %.1fs, ran for %.1fs", boot.BootSeconds, boot.Seconds)
		if n := len(times); n > 0 {
			fmt.Fprintf(stdout, "; a scenario run took %.2fs (median), %.2fs at most", times[n/2], times[n-1])
		}
		fmt.Fprintln(stdout)
		printSummary(stdout, sum, len(results))
	}
	return conformExit(sum, b)
}

// guestHostLine is the guest as the stream's host line; cfg is the
// model's configuration of it.
func guestHostLine(info guestInfo, h *guest.HostInfo, cfg config.Kernel) stream.Host {
	g := &stream.Guest{Suite: info.Spec.Suite, Version: info.Spec.Version, BootSeconds: info.BootSeconds, Seconds: info.Seconds,
		ScenarioSeconds: info.ScenarioSeconds, Error: info.Error}
	for _, p := range info.Packages {
		g.Packages = append(g.Packages, stream.Package{Name: p.Name, Version: p.Version})
	}
	return stream.Host{Type: stream.TypeHost, Command: stream.CommandConform, Arch: info.Spec.Arch, Kernel: h.Kernel, Root: h.Root,
		Model: "native", Config: configMap(cfg), Missing: h.Missing, Notes: append(append([]string{}, h.Notes...), info.Notes...),
		Guest: g, Detail: info.Host}
}

// printGuest prints the guest's header; model says whether a model is
// compared with it (conform --arch) or not (faultline guest).
func printGuest(w io.Writer, info guestInfo, h *guest.HostInfo, model bool) {
	var pk []string
	for _, p := range info.Packages {
		pk = append(pk, p.Name+" "+p.Version)
	}
	root := "not root"
	if h.Root {
		root = "root"
	}
	fmt.Fprintf(w, "guest: %s under qemu, Linux %s, %s (Debian %s: %s)\n", h.Arch, h.Kernel, root, info.Spec.Suite, strings.Join(pk, ", "))
	fmt.Fprintf(w, "config: %s\n", info.ModelConfig)
	if model {
		fmt.Fprintf(w, "model: the native %s handler; the generic handler's differences from the guest are listed\n", h.Arch)
	} else {
		fmt.Fprintln(w, "model: none; each scenario is checked against its expectations")
	}
	keys := make([]string, 0, len(h.Missing))
	for k := range h.Missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "lacks %s: %s\n", k, h.Missing[k])
	}
	for _, n := range append(append([]string{}, h.Notes...), info.Notes...) {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
}
