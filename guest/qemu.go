package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline/faultline/timeout"
)

// Machine is what qemu boots.
type Machine struct {
	Arch   string
	Kernel string // the image
	Initrd string
	Disk   string
	Scale  timeout.Scale
	// Qemu is the qemu program's path where it is not the board's
	// program on PATH (a private qemu: Board.Private).
	Qemu string
	// Bios is the firmware qemu runs (-bios), if any (Board.Firmware).
	Bios string
}

// ScaleParam is the kernel command-line parameter that carries the
// timeout scale into the guest.
const ScaleParam = "faultline.scale"

// scaleArg formats a scale for the command line.
func scaleArg(s timeout.Scale) string { return strconv.FormatFloat(s.Factor(), 'g', -1, 64) }

// Command returns qemu's program and arguments for m: its board's
// machine, one CPU, 1 GiB, no network (the default NIC wants a ROM), no
// reboot (a panic ends qemu: panic=-1), the console on the first serial
// port (or the board's terminal), the scratch disk on the board's virtio
// transport. Kernel messages below KERN_ALERT stay off the console
// (loglevel=1), which carries the results.
func (m Machine) Command() (string, []string, error) {
	b := BoardOf(m.Arch)
	if b == nil {
		return "", nil, fmt.Errorf("guest: no qemu machine for %q", m.Arch)
	}
	prog := b.Qemu.Program
	if m.Qemu != "" {
		prog = m.Qemu
	}
	args := append([]string{}, b.Board...)
	if m.Bios != "" {
		args = append(args, "-bios", m.Bios)
	}
	cmdline := append([]string{"console=" + b.Console, "panic=-1", "quiet", "loglevel=1", "rdinit=/init"}, b.Append...)
	// -nographic adds the default devices, whose modules a private qemu
	// would look for among the system qemu's (of another version): it
	// gets none, and the serial port alone.
	display := []string{"-nographic"}
	if m.Qemu != "" {
		display = []string{"-display", "none", "-nodefaults", "-serial", "stdio"}
	}
	args = append(args, "-smp", "1", "-m", "1024")
	args = append(args, display...)
	args = append(args, "-no-reboot", "-nic", "none",
		"-kernel", m.Kernel, "-initrd", m.Initrd,
		"-drive", "file="+m.Disk+",format=raw,if=none,id=scratch,cache=unsafe",
		"-device", b.Disk+",drive=scratch",
		"-append", strings.Join(append(cmdline, ScaleParam+"="+scaleArg(m.Scale)), " "))
	return prog, args, nil
}

// Bounds of a boot, multiplied by the scale.
const (
	// BootBound: from qemu's start to the guest's host line.
	BootBound = 3 * time.Minute
	// ScenarioBound: between two results. The guest bounds each of its
	// statements itself (hostrun.DefaultLimit); this is the net under a
	// guest that hangs.
	ScenarioBound = 5 * time.Minute
)

// Boot is the outcome of a boot.
type Boot struct {
	Host    *HostInfo
	RawHost json.RawMessage
	Results []Result
	Done    bool
	// Err says why the boot ended before Done: a guest error, a damaged
	// line, qemu's exit, a timeout (TimedOut then says which bound).
	Err      error
	TimedOut bool
	// BootSeconds is the time to the guest's host line.
	BootSeconds float64
	Seconds     float64
	// Console is the last lines of the console that were not the guest's.
	Console []string
}

// consoleKeep is how many other console lines Boot keeps.
const consoleKeep = 40

// collector turns console lines into a Boot.
type collector struct {
	b       *Boot
	start   time.Time
	onLine  func(kind string, v any)
	lastErr error
}

func (c *collector) line(s string) (progress bool) {
	kind, payload, ok, err := ParseLine(s)
	if !ok {
		if t := strings.TrimRight(s, "\r\n"); t != "" {
			c.b.Console = append(c.b.Console, t)
			if len(c.b.Console) > consoleKeep {
				c.b.Console = c.b.Console[1:]
			}
		}
		return false
	}
	if err != nil {
		c.lastErr = err
		return true
	}
	switch kind {
	case KindHost:
		var h HostInfo
		if err := json.Unmarshal(payload, &h); err != nil {
			c.lastErr = fmt.Errorf("guest: host line: %w", err)
			return true
		}
		c.b.Host, c.b.RawHost = &h, payload
		c.b.BootSeconds = time.Since(c.start).Seconds()
		c.notify(kind, &h)
	case KindResult:
		var r Result
		if err := json.Unmarshal(payload, &r); err != nil {
			c.lastErr = fmt.Errorf("guest: result line: %w", err)
			return true
		}
		c.b.Results = append(c.b.Results, r)
		c.notify(kind, &r)
	case KindDone:
		c.b.Done = true
		c.notify(kind, nil)
	case KindError:
		var f Failure
		json.Unmarshal(payload, &f)
		c.lastErr = fmt.Errorf("guest: %s", f.Error)
	}
	return true
}

func (c *collector) notify(kind string, v any) {
	if c.onLine != nil {
		c.onLine(kind, v)
	}
}

// Run boots m, collects what the guest prints until it powers off, and
// kills qemu (its whole process group) when a bound passes, when ctx is
// done, or when this process's thread that started it dies (PDEATHSIG).
// onLine, if not nil, sees each host line and result as it comes.
func (m Machine) Run(ctx context.Context, onLine func(kind string, v any)) *Boot {
	b := &Boot{}
	start := time.Now()
	defer func() { b.Seconds = time.Since(start).Seconds() }()
	prog, args, err := m.Command()
	if err != nil {
		b.Err = err
		return b
	}
	if _, err := exec.LookPath(prog); err != nil {
		b.Err = fmt.Errorf("guest: %s is not installed (faultline setup --arch %s)", prog, m.Arch)
		return b
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Err = err
		return b
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = procAttr()
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		// PDEATHSIG follows the thread that forked: keep it for qemu's life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		pw.Close()
		pr.Close()
		b.Err = fmt.Errorf("guest: start %s: %w", prog, err)
		return b
	}
	pw.Close()
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		br := bufio.NewReaderSize(pr, 1<<16)
		for {
			s, err := br.ReadString('\n')
			if s != "" {
				lines <- s
			}
			if err != nil {
				return
			}
		}
	}()
	c := &collector{b: b, start: start, onLine: onLine}
	bound := m.Scale.Of(BootBound)
	timer := time.NewTimer(bound)
	defer timer.Stop()
	var exitErr error
	exitedSeen := false
	waiting := "the guest's boot to its first line"
loop:
	for {
		select {
		case s, ok := <-lines:
			if !ok {
				break loop
			}
			if c.line(s) {
				timer.Reset(m.Scale.Of(ScenarioBound))
				bound = m.Scale.Of(ScenarioBound)
				waiting = fmt.Sprintf("scenario %d", len(b.Results)+1)
			}
		case <-timer.C:
			kill()
			b.TimedOut = true
			b.Err = fmt.Errorf("guest: timed out after %s waiting for %s: qemu killed", bound, waiting)
			break loop
		case <-ctx.Done():
			kill()
			b.Err = fmt.Errorf("guest: interrupted: %w", context.Cause(ctx))
			break loop
		case exitErr = <-exited:
			exitedSeen = true
			// Drain what qemu wrote before it exited (its group killed
			// first: nothing else may hold the pipe open).
			kill()
			for s := range lines {
				c.line(s)
			}
			break loop
		}
	}
	kill() // the group: nothing of qemu's outlives the boot
	if !exitedSeen {
		select {
		case exitErr = <-exited:
		case <-time.After(10 * time.Second):
		}
	}
	pr.Close()
	if b.Err == nil && !b.Done {
		switch {
		case c.lastErr != nil:
			b.Err = c.lastErr
		case exitErr != nil:
			b.Err = fmt.Errorf("guest: %s: %w before the guest was done", prog, exitErr)
		default:
			b.Err = errors.New("guest: qemu exited before the guest was done (a panic or an early power-off)")
		}
	} else if b.Err == nil && c.lastErr != nil {
		b.Err = c.lastErr
	}
	return b
}

// ConsoleTail is the console's last lines, for a report.
func (b *Boot) ConsoleTail(n int) string {
	c := b.Console
	if len(c) > n {
		c = c[len(c)-n:]
	}
	return strings.Join(c, "\n")
}
