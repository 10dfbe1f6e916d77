//go:build linux

package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeInfo is a directory entry of a made-up file system for trustedPath.
type fakeInfo struct {
	mode fs.FileMode
	uid  uint32
}

func (f fakeInfo) Name() string       { return "" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid} }

func TestTrustedPath(t *testing.T) {
	me := uint32(os.Geteuid())
	other := me + 1000
	dir := func(perm fs.FileMode, uid uint32) fakeInfo { return fakeInfo{fs.ModeDir | perm, uid} }
	good := map[string]fakeInfo{"/": dir(0o755, 0), "/home": dir(0o755, 0), "/home/u": dir(0o700, me), "/home/u/c": dir(0o755, me)}
	for _, tc := range []struct {
		name   string
		change map[string]fakeInfo
		ok     bool
	}{
		{"all private", nil, true},
		{"the directory itself world-writable", map[string]fakeInfo{"/home/u/c": dir(0o777, me)}, false},
		{"group-writable", map[string]fakeInfo{"/home/u/c": dir(0o775, me)}, false},
		{"a parent world-writable", map[string]fakeInfo{"/home": dir(0o777, 0)}, false},
		{"a sticky world-writable parent (/tmp)", map[string]fakeInfo{"/home": dir(fs.ModeSticky|0o777, 0)}, false},
		{"owned by another user", map[string]fakeInfo{"/home/u/c": dir(0o700, other)}, false},
		{"a parent owned by another user", map[string]fakeInfo{"/home/u": dir(0o755, other)}, false},
		{"root's is fine", map[string]fakeInfo{"/home/u/c": dir(0o755, 0)}, true},
		{"a symbolic link on the way", map[string]fakeInfo{"/home/u": {fs.ModeSymlink | 0o777, me}}, false},
		{"a file on the way", map[string]fakeInfo{"/home/u": {0o644, me}}, false},
	} {
		view := map[string]fakeInfo{}
		for k, v := range good {
			view[k] = v
		}
		for k, v := range tc.change {
			view[k] = v
		}
		lstat := func(p string) (os.FileInfo, error) {
			if fi, ok := view[p]; ok {
				return fi, nil
			}
			return nil, os.ErrNotExist
		}
		if err := trustedPath("/home/u/c", lstat); (err == nil) != tc.ok {
			t.Errorf("%s: trustedPath = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	if err := trustedPath("/home/u/missing", func(string) (os.FileInfo, error) { return nil, os.ErrNotExist }); err == nil {
		t.Error("a missing directory is trusted")
	}
}

// executorName is the cache name of the embedded source's build.
func executorName() string {
	sum := sha256.Sum256(executorSource)
	return "executor-" + hex.EncodeToString(sum[:])[:16]
}

// plant writes a script at path that creates marker when run, with its
// true SHA-256 recorded next to it, so that only the check a case is about
// can reject it.
func plant(t *testing.T, path, marker string) {
	t.Helper()
	script := []byte("#!/bin/sh\ntouch " + marker + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, script, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	if err := os.WriteFile(path+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runBuilt builds, starts what Build returned and checks that it is the
// executor (it says hello) and that the planted script never ran.
func runBuilt(t *testing.T, planted, marker string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin, err := Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveBuild(bin) })
	e, err := Start(ctx, bin)
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatalf("Build returned %s: the planted %s ran", bin, planted)
	}
	if err != nil {
		t.Fatalf("Start(%s): %v", bin, err)
	}
	e.Close()
	if b, _ := os.ReadFile(bin); strings.HasPrefix(string(b), "#!") {
		t.Fatalf("Build returned the planted script %s", bin)
	}
	return bin
}

func TestBuildNeverRunsAPlantedExecutor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, cache, planted, marker string)
		// private: the build must not be in the cache (it cannot be trusted).
		private bool
	}{
		{"world-writable cache directory", func(t *testing.T, cache, planted, marker string) {
			plant(t, planted, marker)
			os.Chmod(filepath.Dir(planted), 0o777)
		}, true},
		{"world-writable cache root", func(t *testing.T, cache, planted, marker string) {
			plant(t, planted, marker)
			os.Chmod(cache, 0o1777)
		}, true},
		{"cache directory of another user", func(t *testing.T, cache, planted, marker string) {
			if os.Geteuid() != 0 {
				t.Skip("only root can make a directory of another user")
			}
			plant(t, planted, marker)
			os.Chown(filepath.Dir(planted), 65534, 65534)
		}, true},
		{"group-writable binary", func(t *testing.T, cache, planted, marker string) {
			plant(t, planted, marker)
			os.Chmod(planted, 0o775)
		}, false},
		{"binary of another user", func(t *testing.T, cache, planted, marker string) {
			if os.Geteuid() != 0 {
				t.Skip("only root can make a file of another user")
			}
			plant(t, planted, marker)
			os.Chown(planted, 65534, 65534)
		}, false},
		{"tampered binary (its recorded hash is the built one's)", func(t *testing.T, cache, planted, marker string) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if bin, err := Build(ctx); err != nil || bin != planted {
				t.Fatalf("Build = %s, %v; want %s", bin, err, planted)
			}
			script := "#!/bin/sh\ntouch " + marker + "\n"
			if err := os.WriteFile(planted, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, err := trustedTemp("faultline-plant-")
			if err != nil {
				t.Skip(err)
			}
			t.Cleanup(func() { os.RemoveAll(cache) })
			t.Setenv("XDG_CACHE_HOME", cache)
			planted := filepath.Join(cache, "faultline", executorName())
			marker := filepath.Join(t.TempDir(), "ran")
			tc.setup(t, cache, planted, marker)
			bin := runBuilt(t, planted, marker)
			if inCache := bin == planted; inCache == tc.private {
				t.Errorf("Build returned %s; want it in the cache: %v", bin, !tc.private)
			}
			if tc.private {
				fi, err := os.Lstat(filepath.Dir(bin))
				if err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(filepath.Dir(bin)), tempPrefix+"build-") {
					t.Errorf("private build directory %s: %v %v", filepath.Dir(bin), fi.Mode(), err)
				}
			}
		})
	}
}

func TestBuildWithoutHomeBuildsPrivately(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", tmp)
	// What an older faultline would have reused: TMPDIR/faultline/executor-HASH.
	planted := filepath.Join(tmp, "faultline", executorName())
	marker := filepath.Join(t.TempDir(), "ran")
	plant(t, planted, marker)
	bin := runBuilt(t, planted, marker)
	dir := filepath.Dir(bin)
	if filepath.Dir(dir) != tmp || !strings.HasPrefix(filepath.Base(dir), tempPrefix+"build-") {
		t.Errorf("Build without HOME = %s; want a fresh %sbuild-* directory in %s", bin, tempPrefix, tmp)
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want 0700", dir, fi.Mode(), err)
	}
	// A second Build makes another: nothing in a shared directory is reused.
	again, err := Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(again) == dir {
		t.Errorf("second Build without HOME reused %s", again)
	}
	for _, b := range []string{bin, again} {
		if err := RemoveBuild(b); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Dir(b)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("RemoveBuild(%s) left its directory: %v", b, err)
		}
	}
}

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
		o  Owner
	}{
		{"12 345\n", true, Owner{12, 345}},
		{"12-345", true, Owner{12, 345}},
		{"12", false, Owner{}},
		{"0 5", false, Owner{}},
		{"-3 5", false, Owner{}},
		{"12 x", false, Owner{}},
		{"12 3 4", false, Owner{}},
	} {
		o, ok := ParseOwner(tc.in)
		if ok != tc.ok || o != tc.o {
			t.Errorf("ParseOwner(%q) = %v, %v; want %v, %v", tc.in, o, ok, tc.o, tc.ok)
		}
	}
	self := Self()
	if !self.Alive() {
		t.Errorf("Self() %v is not alive", self)
	}
	if (Owner{self.PID, self.Start + 1}).Alive() {
		t.Error("a process with this pid but another start time counts as alive (pid reuse)")
	}
}

func TestCleanLeftoversRemovesOnlyDeadRunsDirectories(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	self := Self()
	mk := func(name, marker string, age time.Duration) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if marker != "" {
			if err := os.WriteFile(filepath.Join(dir, markerName), []byte(marker), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if age > 0 {
			old := time.Now().Add(-age)
			os.Chtimes(dir, old, old)
		}
		return dir
	}
	dead := Owner{self.PID, self.Start + 1}.String() // this pid, reused
	cases := []struct {
		dir  string
		gone bool
	}{
		{mk(tempPrefix+"dead", dead, 0), true},
		{mk(tempPrefix+"build-dead", dead, 0), true},
		{mk(tempPrefix+"alive", self.String(), 0), false},
		{mk(tempPrefix+"unmarked-new", "", 0), false},
		{mk(tempPrefix+"unmarked-old", "", 2*unmarkedAge), true},
		{mk(tempPrefix+"garbage-marker", "x y", 0), false},
		{mk("other-dead", dead, 0), false},
	}
	if os.Geteuid() == 0 {
		d := mk(tempPrefix+"someone-elses", dead, 0)
		os.Chown(d, 65534, 65534)
		cases = append(cases, struct {
			dir  string
			gone bool
		}{d, false})
	}
	CleanLeftovers()
	for _, c := range cases {
		_, err := os.Lstat(c.dir)
		if gone := errors.Is(err, os.ErrNotExist); gone != c.gone {
			t.Errorf("%s: removed %v, want %v", filepath.Base(c.dir), gone, c.gone)
		}
	}
}
