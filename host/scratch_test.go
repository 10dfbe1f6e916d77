//go:build linux

package host

import (
	"errors"
	"strings"
	"testing"
)

func TestScratchBase(t *testing.T) {
	fs := map[string]int64{"/tmp": tmpfsMagic, "/var/tmp": 0xef53, "/dev/shm": tmpfsMagic, "/ram": ramfsMagic, "/disk": 0x58465342}
	fstype := func(dir string) (int64, error) {
		if m, ok := fs[dir]; ok {
			return m, nil
		}
		return 0, errors.New("no such directory")
	}
	cases := []struct {
		name, env, def string
		more           []string
		want           string
		errHas         []string // all in the error; nil: no error
	}{
		{"TMPDIR on a disk", "/disk", "/tmp", nil, "/disk", nil},
		{"TMPDIR on tmpfs is refused", "/dev/shm", "/var/tmp", nil, "", []string{"TMPDIR=/dev/shm", "tmpfs", "disk filesystem"}},
		{"TMPDIR on ramfs is refused", "/ram", "/var/tmp", nil, "", []string{"TMPDIR=/ram", "ramfs"}},
		{"TMPDIR missing", "/nowhere", "/var/tmp", nil, "", []string{"TMPDIR=/nowhere", "no such directory"}},
		{"default on a disk", "", "/var/tmp", []string{"/tmp"}, "/var/tmp", nil},
		{"default /tmp on tmpfs: /var/tmp", "", "/tmp", []string{"/var/tmp"}, "/var/tmp", nil},
		{"every candidate in memory", "", "/tmp", []string{"/ram"}, "", []string{"/tmp is on tmpfs", "/ram is on ramfs", "set TMPDIR"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := scratchBase(c.env, c.def, c.more, fstype)
			if c.errHas == nil {
				if err != nil || got != c.want {
					t.Fatalf("= %q, %v; want %q", got, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("= %q, want an error", got)
			}
			for _, w := range c.errHas {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestScratchBaseHere: the real statfs of this machine's /dev/shm (tmpfs
// on every Linux with glibc's shm_open) is refused.
func TestScratchBaseRefusesDevShm(t *testing.T) {
	m, err := statfsType("/dev/shm")
	if err != nil || !inMemoryFS(m) {
		t.Skipf("/dev/shm is not tmpfs here (%v, %s)", err, FSName(m))
	}
	t.Setenv("TMPDIR", "/dev/shm")
	if _, err := ScratchBase(); err == nil || !strings.Contains(err.Error(), "TMPDIR=/dev/shm is on tmpfs") {
		t.Fatalf("ScratchBase with TMPDIR=/dev/shm: %v", err)
	}
	if _, err := Start(t.Context(), "/nonexistent"); err == nil || !strings.Contains(err.Error(), "tmpfs") {
		t.Fatalf("Start with TMPDIR=/dev/shm: %v", err)
	}
}
