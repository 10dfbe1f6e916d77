//go:build linux

package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/faultline/faultline/hostrun"
	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/timeout"
	"golang.org/x/sys/unix"
)

// Init is the guest's PID 1 (the faultline binary as /init chooses it when
// it runs as PID 1): it mounts proc, sysfs, devtmpfs and cgroup2 (with
// the memory and hugetlb controllers enabled for children), loads the
// disk modules, mounts the scratch disk and puts TMPDIR there, detects the
// kernel as conform does (hostrun.Detect), runs every scenario of the
// index on it, prints one line per result on out (FormatLine), and
// powers the machine off. It does not return when it is PID 1.
func Init(out io.Writer) int {
	code := 0
	if err := initRun(out); err != nil {
		if line, ferr := FormatLine(KindError, Failure{Error: err.Error()}); ferr == nil {
			fmt.Fprintln(out, line)
		}
		code = 1
	}
	if os.Getpid() == 1 {
		drain(out)
		syscall.Sync()
		syscall.Unmount(GuestScratch, 0)
		// reboot(2), LINUX_REBOOT_CMD_POWER_OFF: qemu exits.
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
		for {
			time.Sleep(time.Hour)
		}
	}
	return code
}

// drain waits until the console has sent everything written to it
// (tcdrain: TCSBRK with a nonzero argument): writes to a tty return once
// the serial driver has the bytes, and powering off at once lost the end
// of the last result, up to a transmit buffer's worth. The host bounds the
// wait, as it bounds the whole boot.
func drain(out io.Writer) {
	if f, ok := out.(*os.File); ok {
		unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	}
}

func initRun(out io.Writer) error {
	mounts := []struct{ src, dst, fs, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", ""},
	}
	for _, m := range mounts {
		os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.src, m.dst, m.fs, 0, m.data); err != nil && !errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fs, m.dst, err)
		}
	}
	// Children of the root cgroup may then have memory limits and
	// hugetlb accounting (hostrun makes them).
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory +hugetlb"), 0); err != nil {
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory"), 0)
	}
	scale := timeout.Scale(0)
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, ScaleParam+"="); ok {
				if s, err := timeout.Parse(v); err == nil {
					scale = s
				}
			}
		}
	}
	if err := loadModules(GuestModules); err != nil {
		return err
	}
	if err := mountScratch(scale); err != nil {
		return err
	}
	tmp := filepath.Join(GuestScratch, "tmp")
	if err := os.MkdirAll(tmp, 0o1777); err != nil {
		return err
	}
	os.Chmod(tmp, 0o1777)
	os.Setenv("TMPDIR", tmp)
	os.Setenv("HOME", GuestHome)
	os.Unsetenv("XDG_CACHE_HOME")
	os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	ctx := timeout.WithScale(context.Background(), scale)
	h, err := hostrun.Detect(ctx)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	defer h.Close()
	if err := emit(out, KindHost, h); err != nil {
		return err
	}
	b, err := os.ReadFile(GuestIndex)
	if err != nil {
		return err
	}
	var idx []Scenario
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("%s: %w", GuestIndex, err)
	}
	for i, sc := range idx {
		start := time.Now()
		res := Result{Index: i, File: sc.Name}
		src, err := os.ReadFile(sc.Path)
		var s *scenario.Scenario
		if err == nil {
			s, err = scenario.Parse(sc.Name, src)
		}
		switch {
		case err != nil:
			res.Report = runner.Report{File: sc.Name, Arch: h.Arch, Status: runner.Error, Reason: err.Error()}
		default:
			if why := h.Skip(s); why != "" {
				res.Skip = why
			} else {
				res.Report = h.Run(ctx, s, hostrun.Options{Scale: scale})
			}
		}
		res.Seconds = time.Since(start).Seconds()
		if err := emit(out, KindResult, res); err != nil {
			return err
		}
	}
	return emit(out, KindDone, Done{Count: len(idx)})
}

func emit(out io.Writer, kind string, v any) error {
	line, err := FormatLine(kind, v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, line)
	return err
}

// loadModules loads the modules of dir in the order of their names
// (init_module(2)); one already loaded (EEXIST) is fine.
func loadModules(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if len(b) == 0 {
			continue
		}
		params := []byte{0}
		_, _, e := syscall.Syscall(syscall.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&params[0])))
		if e != 0 && e != syscall.EEXIST {
			return fmt.Errorf("init_module %s: %w", n, e)
		}
	}
	return nil
}

// mountScratch waits (bounded) for the virtio disk and mounts its ext4.
func mountScratch(scale timeout.Scale) error {
	deadline := time.Now().Add(scale.Of(30 * time.Second))
	for {
		if _, err := os.Stat("/dev/vda"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the scratch disk /dev/vda did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Mount("/dev/vda", GuestScratch, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount /dev/vda (ext4) on %s: %w", GuestScratch, err)
	}
	return nil
}
