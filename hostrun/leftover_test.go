//go:build linux

package hostrun

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/host"
)

func TestOwnCgroup(t *testing.T) {
	v1 := "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/\n"
	for _, tc := range []struct {
		in, controller, want string
		ok                   bool
	}{
		{v1, "memory", "/process_api/abc", true},
		{v1, "cpuacct", "/x", true},
		{v1, "", "/", true},
		{v1, "pids", "", false},
		{"0::/user.slice/session-1.scope\n", "", "/user.slice/session-1.scope", true},
		{"0::/user.slice/session-1.scope\n", "memory", "", false},
		{"4:memory,cpu:/a/b/\n", "memory", "/a/b", true},
		{"4:memory:/a/../../etc\n", "memory", "", false},
		{"4:memory:relative\n", "memory", "", false},
		{"garbage", "memory", "", false},
	} {
		got, ok := ownCgroup(tc.in, tc.controller)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ownCgroup(%q, %q) = %q, %v; want %q, %v", tc.in, tc.controller, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCgroupOwnerDead(t *testing.T) {
	self := host.Self()
	now := time.Now().UnixNano()
	for _, tc := range []struct {
		name string
		dead bool
	}{
		{newCgroupName(), false},
		{fmt.Sprintf("faultline-%d-%d-3", self.PID, self.Start), false},
		{fmt.Sprintf("faultline-%d-%d-3", self.PID, self.Start+1), true}, // the pid reused
		{fmt.Sprintf("faultline-%d-%d", self.PID, now), false},           // older name: made after we started
		{fmt.Sprintf("faultline-%d-%d", self.PID, now-int64(48*time.Hour)), true},
		{"faultline-x-1-2", false},
		{"faultline-1-2-3-4", false},
		{"faultline-", false},
		{"other-1-2-3", false},
		{fmt.Sprintf("faultline-%d-%d-3", self.PID, self.Start+1) + "x", false},
	} {
		if got := cgroupOwnerDead(tc.name); got != tc.dead {
			t.Errorf("cgroupOwnerDead(%q) = %v, want %v", tc.name, got, tc.dead)
		}
	}
}

// TestCleanCgroups makes cgroups of a dead and a live driver where runs
// make them and checks that only the dead one's goes.
func TestCleanCgroups(t *testing.T) {
	h := detect(t)
	if h.Memcg == "" {
		t.Skip("no memory cgroups here: ", h.Missing["memcg"])
	}
	self := host.Self()
	dead := filepath.Join(h.Memcg, fmt.Sprintf("faultline-%d-%d-1", self.PID, self.Start+1))
	live := filepath.Join(h.Memcg, newCgroupName())
	for _, d := range []string{dead, live} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(d) })
	}
	did := cleanCgroups(0, h.Memcg)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead driver's cgroup %s stayed: %v (did %v)", dead, err, did)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the live driver's cgroup %s went: %v", live, err)
	}
}

func TestMemcgBelowOwnCgroup(t *testing.T) {
	h := detect(t)
	if h.Memcg == "" {
		t.Skip("no memory cgroups here: ", h.Missing["memcg"])
	}
	controller := "memory"
	if h.MemcgVersion == 2 {
		controller = ""
	}
	own, ok := ownCgroup(readSelfCgroup(), controller)
	if !ok {
		t.Fatal("no own cgroup in /proc/self/cgroup")
	}
	want := filepath.Join(h.memcgRoot, own)
	if h.Memcg != want {
		// Allowed only with a note saying why.
		noted := false
		for _, n := range h.Notes {
			noted = noted || strings.Contains(n, "memory cgroups are made at")
		}
		if !noted {
			t.Errorf("memory cgroups are made at %s, not below this process's %s, and no note says why (notes %v)", h.Memcg, want, h.Notes)
		}
	}
	t.Logf("memory cgroups at %s (own %s)", h.Memcg, own)
}

// TestRestoreHugepages plays a run killed after changing the pool: its
// state file is all that is left, and the next run restores the size.
func TestRestoreHugepages(t *testing.T) {
	h := detect(t)
	if h.Missing["hugetlb"] != "" {
		t.Skip(h.Missing["hugetlb"])
	}
	const path = "/proc/sys/vm/nr_hugepages"
	orig, ok := readTrim(path)
	if !ok {
		t.Skip("no ", path)
	}
	t.Cleanup(func() { os.WriteFile(path, []byte(orig), 0o644) })
	dir, ok := privateStateDir()
	if !ok {
		t.Fatalf("%s is not a private directory", stateDir)
	}
	self := host.Self()
	state := filepath.Join(dir, fmt.Sprintf("%s%d-%d", hugeStatePrefix, self.PID, self.Start+1))
	if err := os.WriteFile(state, []byte(orig+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(state) })
	n, _ := strconv.Atoi(orig)
	if err := os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	did := restoreHugepages()
	if got, _ := readTrim(path); got != orig {
		t.Errorf("vm.nr_hugepages %s after the restore, want %s (did %v)", got, orig, did)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file %s stayed: %v", state, err)
	}
	// A live driver's state file is left alone, and so is the pool.
	mine := saveHugeState(orig)
	if mine == "" {
		t.Fatal("saveHugeState made no state file")
	}
	defer os.Remove(mine)
	os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o644)
	restoreHugepages()
	if got, _ := readTrim(path); got != strconv.Itoa(n+1) {
		t.Errorf("vm.nr_hugepages %s: restored while its run is alive", got)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("a live driver's state file went: %v", err)
	}
}
