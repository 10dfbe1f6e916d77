//go:build linux

package host

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline/faultline/timeout"
)

// Owner names a driver process so that a later run can tell whether it is
// still alive: its pid and its start time (/proc/PID/stat field 22, clock
// ticks since boot), which a process reusing the pid cannot share.
type Owner struct {
	PID   int
	Start uint64
}

// String is the owner as markers record it: "PID START".
func (o Owner) String() string { return fmt.Sprintf("%d %d", o.PID, o.Start) }

// ParseOwner parses what String wrote (fields separated by one space or a
// dash, as cgroup names carry them).
func ParseOwner(s string) (Owner, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		a, b, ok = strings.Cut(a, "-")
	}
	if !ok || !digits(a) || !digits(b) {
		return Owner{}, false
	}
	pid, err1 := strconv.Atoi(a)
	start, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return Owner{}, false
	}
	return Owner{pid, start}, true
}

// digits reports whether s is a non-empty run of decimal digits.
func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Alive reports whether the process o names still runs: its pid exists
// and started at o.Start. A zombie is dead.
func (o Owner) Alive() bool {
	st, state, ok := procStart(o.PID)
	return ok && st == o.Start && state != 'Z' && state != 'X'
}

// Self is the running process as an Owner.
var Self = sync.OnceValue(func() Owner {
	st, _, _ := procStart(os.Getpid())
	return Owner{os.Getpid(), st}
})

// procStart reads a process's start time (field 22 of /proc/PID/stat) and
// state (field 3).
func procStart(pid int) (start uint64, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and ')'
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0][0], err == nil
}

// StartedBefore reports whether process pid runs and started before t
// (to the resolution /proc gives: a second, plus the clock tick), for names
// that record a pid and a wall-clock time instead of an Owner.
func StartedBefore(pid int, t time.Time) bool {
	start, state, ok := procStart(pid)
	if !ok || state == 'Z' || state == 'X' {
		return false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return true // cannot tell: keep
	}
	var btime int64 = -1
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			btime, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if btime < 0 {
		return true
	}
	const clkTck = 100 // USER_HZ, the unit of /proc/PID/stat on every Linux ABI
	started := time.Unix(btime, 0).Add(time.Duration(start) * time.Second / clkTck)
	return !started.After(t.Add(2 * time.Second))
}

// markerName is the file in each private temporary directory that names
// the driver owning it.
const markerName = "driver"

// tempPrefix is the name of every temporary directory of this package:
// the run directories of Start and the private builds of Build.
const tempPrefix = "faultline-host-"

// unmarkedAge is how old a faultline-host-* directory without a marker
// (made by an older faultline, or a driver killed between making it and
// writing the marker) must be before it counts as left over.
const unmarkedAge = time.Hour

// makeTemp creates a private temporary directory (0700) named
// faultline-host-<pattern>, marked as this process's.
func makeTemp(pattern string) (string, error) { return makeTempIn("", pattern) }

// makeTempIn is makeTemp in base ("" is the temporary directory).
func makeTempIn(base, pattern string) (string, error) {
	dir, err := os.MkdirTemp(base, tempPrefix+pattern)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte(Self().String()+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// CleanLeftovers removes what runs of dead drivers left behind: their
// faultline-host-* directories in the temporary directory (only those the
// running user owns, whose marker names a driver that is no longer alive,
// or without a marker and older than an hour with no one listening on
// their socket), and kills executor processes of the running user whose
// run directory is gone or left over. It returns what it did, one line
// each.
func CleanLeftovers() []string {
	var did []string
	// Builds are made in the temporary directory, runs in the scratch
	// base (ScratchBase), which is often the same.
	bases := []string{filepath.Clean(os.TempDir())}
	if b, err := ScratchBase(); err == nil && filepath.Clean(b) != bases[0] {
		bases = append(bases, filepath.Clean(b))
	}
	for _, tmp := range bases {
		ents, _ := os.ReadDir(tmp)
		for _, ent := range ents {
			if !strings.HasPrefix(ent.Name(), tempPrefix) {
				continue
			}
			dir := filepath.Join(tmp, ent.Name())
			if leftoverDir(dir) {
				if err := os.RemoveAll(dir); err == nil {
					did = append(did, "removed "+dir)
				}
			}
		}
	}
	return append(did, killStrays(bases...)...)
}

// ownedDir reports whether path is a directory (not a symbolic link) of
// the running user.
func ownedDir(path string) (os.FileInfo, bool) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return fi, ok && int(st.Uid) == os.Geteuid()
}

// leftoverDir reports whether dir, a faultline-host-* directory, was left
// by a driver that is dead.
func leftoverDir(dir string) bool {
	fi, ok := ownedDir(dir)
	if !ok {
		return false
	}
	marker := filepath.Join(dir, markerName)
	if mi, err := os.Lstat(marker); err == nil && mi.Mode().IsRegular() && mi.Size() < 64 {
		b, err := os.ReadFile(marker)
		o, ok := ParseOwner(string(b))
		return err == nil && ok && !o.Alive()
	}
	if time.Since(fi.ModTime()) < unmarkedAge {
		return false
	}
	c, err := net.DialTimeout("unix", filepath.Join(dir, "sock"), timeout.Default().Of(time.Second))
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// killStrays SIGKILLs executor processes of the running user whose run
// directory (the parent of the SOCK they were started with) under tmp is
// gone or was left over: what a killed driver of a faultline without the
// watchdog left behind, still blocked in a userfaultfd wait.
func killStrays(bases ...string) []string {
	var did []string
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, ok := ownedDir("/proc/" + ent.Name()); !ok {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) != 3 || !strings.HasPrefix(filepath.Base(args[0]), "executor") {
			continue
		}
		root := filepath.Dir(args[1])
		if !slices.Contains(bases, filepath.Dir(root)) || !strings.HasPrefix(filepath.Base(root), tempPrefix) ||
			filepath.Base(args[1]) != "sock" || args[2] != filepath.Join(root, "dir") {
			continue
		}
		if _, err := os.Lstat(root); err == nil && !leftoverDir(root) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			did = append(did, fmt.Sprintf("killed executor process %d of %s", pid, root))
		}
	}
	return did
}
