//go:build linux

package hostrun

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/timeout"
)

// A run's memory cgroup is named faultline-PID-START-N: its driver's pid
// and start time (host.Owner) and a sequence number, so that a later run
// can tell whether the driver that made it is dead. Names of an older
// faultline are faultline-PID-UNIXNANO, the time it was made.
const cgroupPrefix = "faultline-"

var cgroupSeq atomic.Uint64

// newCgroupName names a new memory cgroup of this process.
func newCgroupName() string {
	o := host.Self()
	return fmt.Sprintf("%s%d-%d-%d", cgroupPrefix, o.PID, o.Start, cgroupSeq.Add(1))
}

// cgroupOwnerDead reports whether name is a faultline cgroup name whose
// driver is dead; false for any other name.
func cgroupOwnerDead(name string) bool {
	rest, ok := strings.CutPrefix(name, cgroupPrefix)
	if !ok {
		return false
	}
	f := strings.Split(rest, "-")
	for _, x := range f {
		if _, err := strconv.ParseUint(x, 10, 64); err != nil {
			return false
		}
	}
	switch len(f) {
	case 3:
		o, ok := host.ParseOwner(f[0] + " " + f[1])
		return ok && !o.Alive()
	case 2:
		pid, _ := strconv.Atoi(f[0])
		nano, err := strconv.ParseInt(f[1], 10, 64)
		return err == nil && pid > 0 && !host.StartedBefore(pid, time.Unix(0, nano))
	}
	return false
}

// cleanCgroups removes the faultline memory cgroups in each of dirs whose
// driver is dead, killing what is still in them first (executor processes
// of that run: no one else puts processes in a faultline cgroup).
func cleanCgroups(scale timeout.Scale, dirs ...string) []string {
	var did []string
	seen := map[string]bool{}
	for _, dir := range dirs {
		if dir == "" || seen[dir] {
			continue
		}
		seen[dir] = true
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			if !ent.IsDir() || !cgroupOwnerDead(ent.Name()) {
				continue
			}
			cg := filepath.Join(dir, ent.Name())
			removed := settle(scale.Of(time.Second), func() bool {
				if b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err == nil {
					for _, f := range strings.Fields(string(b)) {
						if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
							syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
				err := os.Remove(cg)
				return err == nil || os.IsNotExist(err)
			})
			if removed {
				did = append(did, "removed memory cgroup "+cg)
			}
		}
	}
	return did
}

// stateDir is where a run records what it changes in the host's global
// state and must restore (vm.nr_hugepages): a root-owned private
// directory, so that what a later run restores from it can only have been
// written by root.
const stateDir = "/run/faultline"

// hugeStatePrefix names the state files: nr_hugepages-PID-START holds
// the pool size before that driver first changed it.
const hugeStatePrefix = "nr_hugepages-"

// privateStateDir makes stateDir if needed and returns it when it is
// trusted: 0700, and it and every directory above it root's (or the
// running user's) and writable by no one else.
func privateStateDir() (string, bool) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", false
	}
	fi, err := os.Lstat(stateDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || host.TrustedDir(stateDir) != nil {
		return "", false
	}
	return stateDir, true
}

// saveHugeState records old, the pool size before this run changes it,
// and returns the state file ("" when there is no trusted place for it).
func saveHugeState(old string) string {
	dir, ok := privateStateDir()
	if !ok {
		return ""
	}
	path := filepath.Join(dir, hugeStatePrefix+strings.ReplaceAll(host.Self().String(), " ", "-"))
	if err := os.WriteFile(path, []byte(old+"\n"), 0o600); err != nil {
		return ""
	}
	return path
}

// restoreHugepages sets vm.nr_hugepages back to what a dead run found
// before it changed it, from the state files of dead drivers (the oldest
// one's value: the size before any of them). It leaves them all while a
// live driver has a state file: that run has the pool changed now.
func restoreHugepages() []string {
	dir, ok := privateStateDir()
	if !ok {
		return nil
	}
	ents, _ := os.ReadDir(dir)
	type state struct {
		path  string
		start uint64
		value string
	}
	var dead []state
	for _, ent := range ents {
		rest, ok := strings.CutPrefix(ent.Name(), hugeStatePrefix)
		if !ok || !ent.Type().IsRegular() {
			continue
		}
		o, ok := host.ParseOwner(rest)
		if !ok {
			continue
		}
		if o.Alive() {
			return nil
		}
		path := filepath.Join(dir, ent.Name())
		b, err := os.ReadFile(path)
		v := strings.TrimSpace(string(b))
		if _, perr := strconv.ParseUint(v, 10, 64); err != nil || perr != nil {
			os.Remove(path) // unreadable: nothing to restore from it
			continue
		}
		dead = append(dead, state{path, o.Start, v})
	}
	if len(dead) == 0 {
		return nil
	}
	sort.Slice(dead, func(i, j int) bool { return dead[i].start < dead[j].start })
	const path = "/proc/sys/vm/nr_hugepages"
	cur, _ := readTrim(path)
	if err := writeControl(path, []byte(dead[0].value)); err != nil {
		return []string{fmt.Sprintf("could not restore vm.nr_hugepages to %s (a killed run left %s): %v", dead[0].value, cur, err)}
	}
	for _, d := range dead {
		os.Remove(d.path)
	}
	return []string{fmt.Sprintf("restored vm.nr_hugepages to %s (a killed run left %s)", dead[0].value, cur)}
}

// cleanLeftovers undoes what runs of dead drivers left: temporary
// directories and stray executors (host.CleanLeftovers), memory cgroups,
// and the hugetlb pool size. It returns a note, or "".
func (h *Host) cleanLeftovers() string {
	did := host.CleanLeftovers()
	if h.Root {
		did = append(did, cleanCgroups(h.scale, h.Memcg, h.memcgRoot)...)
		did = append(did, restoreHugepages()...)
	}
	if len(did) == 0 {
		return ""
	}
	return "cleaned up after killed runs: " + strings.Join(did, "; ")
}
