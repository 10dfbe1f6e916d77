//go:build linux

package hostrun

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline/faultline/host"
	"github.com/faultline/faultline/scenario"
)

// fakeCgroupFS lays out files (path: contents) below a temporary
// directory, standing in for /sys/fs/cgroup.
func fakeCgroupFS(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectMemcgIn(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		self    string
		version int
		base    string // Memcg relative to the fake root; "-" when missing
		rootCtl string // the root's subtree_control afterwards ("" to skip)
		v1Miss  bool   // memcg-v1 is missing
		note    string // a note contains this
	}{
		{"v2 at the root, memory already delegated (a guest's /init)",
			map[string]string{"cgroup.controllers": "cpu memory hugetlb", "cgroup.subtree_control": "memory hugetlb"},
			"0::/\n", 2, ".", "memory hugetlb", true, ""},
		{"v2 at the root, memory not yet enabled: the runner enables it",
			map[string]string{"cgroup.controllers": "cpu memory", "cgroup.subtree_control": ""},
			"0::/\n", 2, ".", "+memory", true, "enabled the memory controller"},
		{"v2 below a delegating cgroup",
			map[string]string{"cgroup.controllers": "memory", "cgroup.subtree_control": "memory", "svc/run/cgroup.subtree_control": "memory"},
			"0::/svc/run\n", 2, "svc/run", "", true, ""},
		{"v2 below a cgroup that does not delegate: the root",
			map[string]string{"cgroup.controllers": "memory", "cgroup.subtree_control": "memory", "svc/run/cgroup.subtree_control": "cpu"},
			"0::/svc/run\n", 2, ".", "", true, "does not delegate the memory controller"},
		{"v1 memory controller",
			map[string]string{"cgroup.controllers": "", "memory/memory.limit_in_bytes": "9223372036854771712", "memory/job/x": ""},
			"12:memory:/job\n0::/\n", 1, "memory/job", "", false, ""},
		{"no memory controller",
			map[string]string{"cgroup.controllers": "cpu io"},
			"0::/\n", 0, "-", "", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := fakeCgroupFS(t, c.files)
			h := &Host{Root: true, Missing: map[string]string{}}
			h.detectMemcgIn(root, c.self)
			if h.MemcgVersion != c.version {
				t.Errorf("version %d, want %d", h.MemcgVersion, c.version)
			}
			switch {
			case c.base == "-":
				if h.Memcg != "" || h.Missing["memcg"] == "" {
					t.Errorf("Memcg %q, missing %q: want none, with a reason", h.Memcg, h.Missing["memcg"])
				}
			case h.Memcg != filepath.Join(root, c.base):
				t.Errorf("Memcg %s, want %s", h.Memcg, filepath.Join(root, c.base))
			}
			if _, miss := h.Missing["memcg-v1"]; miss != c.v1Miss {
				t.Errorf("memcg-v1 missing %v (%q), want %v", miss, h.Missing["memcg-v1"], c.v1Miss)
			}
			if c.rootCtl != "" {
				if got := readFirst(filepath.Join(root, "cgroup.subtree_control")); got != c.rootCtl {
					t.Errorf("root subtree_control %q, want %q", got, c.rootCtl)
				}
			}
			if c.note != "" && !strings.Contains(strings.Join(h.Notes, "\n"), c.note) {
				t.Errorf("notes %q lack %q", h.Notes, c.note)
			}
		})
	}
}

// TestMemlimitV2Files: on v2 memlimit makes the run's cgroup, writes
// memory.max and memory.swap.max 0, and moves the actor's process; a
// second memlimit changes the same cgroup's limit.
func TestMemlimitV2Files(t *testing.T) {
	root := fakeCgroupFS(t, map[string]string{"cgroup.controllers": "memory", "cgroup.subtree_control": "memory"})
	h := &Host{Root: true, Missing: map[string]string{}}
	h.detectMemcgIn(root, "0::/\n")
	r := &hrun{h: h}
	act := &hactor{name: "C", a: &host.Actor{Name: "C", PID: 4242, TID: 4242}}
	for _, size := range []uint64{32 << 20, 8 << 20} {
		if obs := r.memlimit(act, size); obs.Kind != scenario.OutOK {
			t.Fatalf("memlimit %d: %+v", size, obs)
		}
		if !strings.HasPrefix(filepath.Base(r.cgroup), cgroupPrefix) || filepath.Dir(r.cgroup) != root {
			t.Fatalf("cgroup %s, want %s/%s*", r.cgroup, root, cgroupPrefix)
		}
		want := map[string]string{"memory.max": itoa(size), "memory.swap.max": "0", "cgroup.procs": "4242"}
		for f, v := range want {
			if got := readFirst(filepath.Join(r.cgroup, f)); got != v {
				t.Errorf("after memlimit %d: %s = %q, want %q", size, f, got, v)
			}
		}
		if _, err := os.Stat(filepath.Join(r.cgroup, "memory.limit_in_bytes")); err == nil {
			t.Error("v1's limit file written on v2")
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestImpliedMemcgV1: a memlimit expected to fail needs v1's semantics;
// one expected to succeed needs only a memory cgroup.
func TestImpliedMemcgV1(t *testing.T) {
	cases := []struct {
		src  string
		want bool
	}{
		{"scenario a\nfork C\nC: memlimit 32M\nC: memlimit 8M => EBUSY\n", true},
		{"scenario a\nfork C\nC: memlimit 32M\nC: memlimit 8M => ok  x86_64=> EBUSY\n", true},
		{"scenario a\nfork C\nC: memlimit 64M\nC: memlimit 4M => ok\n", false},
	}
	for _, c := range cases {
		s, err := scenario.Parse("t.fault", []byte(c.src))
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		needs := impliedNeeds(s)
		if !contains(needs, "memcg") || contains(needs, "memcg-v1") != c.want {
			t.Errorf("%q: implied %v, want memcg-v1 %v", c.src, needs, c.want)
		}
		h := &Host{Arch: "x86_64", Missing: map[string]string{"memcg-v1": memcgV2Missing}, Detected: map[string]bool{}}
		why := h.Skip(s)
		if c.want != strings.Contains(why, "cgroup v2") {
			t.Errorf("%q: skip reason %q", c.src, why)
		}
	}
}
