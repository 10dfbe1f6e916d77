//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mainEnv makes the test binary run faultline itself (TestMain).
const mainEnv = "FAULTLINE_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) != "" {
		os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// leftovers lists what driver pid has on the host: its run directories,
// its memory cgroups, its state files, and live processes of its
// executors' process groups.
// stopBySignal sends sig to the faultline command what runs as cmd, waits
// (bounded) for it to exit, and checks that it exits with code and leaves
// nothing behind: no run directory, no process of the groups it made.
func stopBySignal(t *testing.T, what string, cmd *exec.Cmd, sig syscall.Signal, code int, stderr *strings.Builder, groups map[int]bool) {
	t.Helper()
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of the signal", what)
	}
	if got := cmd.ProcessState.ExitCode(); got != code {
		t.Errorf("exit status %d, want %d (stderr %s)", got, code, stderr.String())
	}
	if left := leftovers(cmd.Process.Pid, groups); len(left) > 0 {
		t.Errorf("left after %v: %v", sig, left)
	}
}

func leftovers(pid int, pgids map[int]bool) []string {
	var out []string
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "faultline-host-*", "driver"))
	for _, m := range dirs {
		if b, err := os.ReadFile(m); err == nil && strings.HasPrefix(string(b), strconv.Itoa(pid)+" ") {
			out = append(out, filepath.Dir(m))
		}
	}
	for _, depth := range []string{"", "*", "*/*", "*/*/*"} {
		cgs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", depth, fmt.Sprintf("faultline-%d-*", pid)))
		out = append(out, cgs...)
	}
	states, _ := filepath.Glob(fmt.Sprintf("/run/faultline/nr_hugepages-%d-*", pid))
	out = append(out, states...)
	eachProc(func(pid string, f []string) {
		if f[0] != "Z" {
			if g, _ := strconv.Atoi(f[2]); pgids[g] {
				out = append(out, "process "+pid)
			}
		}
	})
	return out
}

// eachProc calls fn with each process's /proc/PID/stat fields after the
// command name (state, ppid, pgrp, ...).
func eachProc(fn func(pid string, f []string)) {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:]); len(f) > 2 {
			fn(p.Name(), f)
		}
	}
}

// childGroups returns the process groups of pid's children: the watchdog
// of a run leads one.
func childGroups(pid int) map[int]bool {
	groups := map[int]bool{}
	eachProc(func(_ string, f []string) {
		if f[1] == strconv.Itoa(pid) {
			if g, _ := strconv.Atoi(f[2]); g != pid {
				groups[g] = true
			}
		}
	})
	return groups
}

// TestConformSignalTearsDown interrupts conform in the middle of a host
// run that holds a memory cgroup, a changed hugetlb pool and a blocked
// executor, and checks that it exits 128+signal with all of it undone.
func TestConformSignalTearsDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the scenario needs memory cgroups and the hugetlb pool: root")
	}
	const pool = "/proc/sys/vm/nr_hugepages"
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(sigName(tc.sig), func(t *testing.T) {
			before, _ := os.ReadFile(pool)
			cmd := exec.Command(os.Args[0], "conform", "testdata/interrupt.fault")
			cmd.Env = append(os.Environ(), mainEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// The host line comes after Detect; then wait for the run to
			// hold its cgroup (the first statement). conform runs the
			// models of the scenario first: a million faults on every
			// arch and handler, which under -race on a loaded machine
			// takes tens of seconds, so the wait is a generous net.
			bufio.NewReader(out).ReadString('\n')
			pid := cmd.Process.Pid
			deadline := time.Now().Add(3 * time.Minute)
			var groups map[int]bool
			for {
				groups = childGroups(pid)
				cgs := leftovers(pid, nil)
				after, _ := os.ReadFile(pool)
				if len(groups) > 0 && len(cgs) >= 2 && string(after) != string(before) {
					break // a run directory, a cgroup, the pool changed
				}
				if time.Now().After(deadline) {
					t.Fatalf("the run never got under way: %v, pool %s (stderr %s)", cgs, after, stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // into the blocked waits
			stopBySignal(t, "conform", cmd, tc.sig, tc.code, &stderr, groups)
			if after, _ := os.ReadFile(pool); string(after) != string(before) {
				t.Errorf("vm.nr_hugepages %q after the signal, was %q", after, before)
			}
		})
	}
}
