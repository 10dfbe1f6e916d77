//go:build linux

package host

import (
	"bufio"
	"context"
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

// driverEnv makes the test binary a driver (testDriver) instead of
// running the tests.
const driverEnv = "FAULTLINE_TEST_DRIVER"

// testDriver starts an executor whose main and a forked child both block
// in a userfaultfd wait, prints "pgid PGID PID CHILDPID", and waits to be
// killed.
func testDriver() int {
	fail := func(err error) int { fmt.Println("error", err); return 1 }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin, err := Build(ctx)
	if err != nil {
		return fail(err)
	}
	e, err := Start(ctx, bin)
	if err != nil {
		return fail(err)
	}
	m, err := e.Actor("main", 10*time.Second)
	if err != nil {
		return fail(err)
	}
	do := func(a *Actor, cmd string) (Reply, error) {
		r, err := a.Do(cmd, 10*time.Second)
		if err == nil && r.Kind != "ok" {
			err = fmt.Errorf("%s: %s", cmd, r.Line)
		}
		return r, err
	}
	block := func(a *Actor) error {
		r, err := do(a, fmt.Sprintf("mmap %d 3 %d 0x0 - 0", 4096, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS))
		if err != nil {
			return err
		}
		if _, err := do(a, "uffd_open u 0"); err != nil {
			return err
		}
		if _, err := do(a, fmt.Sprintf("uffd_register u %#x 4096 1", r.Vals[0])); err != nil {
			return err
		}
		if _, err := a.Do(fmt.Sprintf("read %#x", r.Vals[0]), 200*time.Millisecond); err != ErrPending {
			return fmt.Errorf("read in a missing range: %v, want it pending", err)
		}
		return nil
	}
	r, err := do(m, "fork c 1")
	if err != nil {
		return fail(err)
	}
	c, err := e.Actor("c", 10*time.Second)
	if err != nil {
		return fail(err)
	}
	if err := block(c); err != nil {
		return fail(err)
	}
	if err := block(m); err != nil {
		return fail(err)
	}
	fmt.Printf("pgid %d %d %d\n", e.PGID(), e.PID(), r.Vals[0])
	time.Sleep(time.Minute)
	return 1
}

// inUffdWait reports whether some thread of pid sleeps in handle_userfault.
func inUffdWait(pid int) bool {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", pid, t.Name()))
		if strings.Contains(string(b), "userfault") {
			return true
		}
	}
	return false
}

// groupAlive reports whether any process of group pgid exists (a zombie
// waiting for its reaper counts as gone).
func groupAlive(pgid int) []int {
	var live []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			live = append(live, pid)
		}
	}
	return live
}

func TestExecutorsDieWithASIGKILLedDriver(t *testing.T) {
	executorBin(t) // build once, into the cache the driver uses too
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), driverEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	var pgid, pid, child int
	if _, err := fmt.Sscanf(line, "pgid %d %d %d", &pgid, &pid, &child); err != nil {
		t.Fatalf("driver said %q: %v", line, err)
	}
	for _, p := range []int{pid, child} {
		if !inUffdWait(p) {
			t.Errorf("executor process %d is not in a userfaultfd wait", p)
		}
	}
	if live := groupAlive(pgid); len(live) < 3 {
		t.Fatalf("group %d has %v, want the watchdog, main and the child", pgid, live)
	}
	root := ""
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		if args := strings.Split(string(b), "\x00"); len(args) > 1 {
			root = filepath.Dir(args[1])
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// Generous: the machine is loaded; the watchdog needs only to be
	// scheduled once.
	deadline := time.Now().Add(30 * time.Second)
	for len(groupAlive(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if live := groupAlive(pgid); len(live) > 0 {
		t.Errorf("after the driver's SIGKILL, processes of group %d are left: %v", pgid, live)
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	// What the killed driver left, the next run removes.
	if root != "" {
		if _, err := os.Stat(root); err != nil {
			t.Fatalf("the killed driver's directory %s: %v (expected it left over)", root, err)
		}
		CleanLeftovers()
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("CleanLeftovers left %s: %v", root, err)
		}
	}
}

func TestExecutorClosesInheritedDescriptors(t *testing.T) {
	// A descriptor this process holds without close-on-exec (as flock(1)
	// hands one down): children inherit it unless they close it.
	path := filepath.Join(t.TempDir(), "lock")
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	s := start(t)
	holds := func(pid int) string {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, ent.Name())); target == path {
				return ent.Name()
			}
		}
		return ""
	}
	// The executor has closed them before its hello; the watchdog (the
	// group's leader, started beside it) closes them first thing, but it
	// may not have been scheduled yet on a loaded machine: give it time.
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range []int{s.e.PID(), s.e.PGID()} {
		fd := holds(pid)
		for fd != "" && pid == s.e.PGID() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			fd = holds(pid)
		}
		if fd != "" {
			t.Errorf("process %d holds the inherited descriptor as %s", pid, fd)
		}
	}
}
