package guest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// hostDebArch is Debian's name of this machine's architecture.
func hostDebArch() string {
	if runtime.GOARCH == "ppc64le" {
		return "ppc64el"
	}
	return runtime.GOARCH
}

// unpacked is the manifest of a tree fetchTree made.
const unpacked = "unpacked.json"

// fetchTree returns dir, a tree holding the newest packages names of
// Debian suite for Debian arch debArch, unpacked with dpkg -x (nothing
// installed: their dependencies are not followed), fetching them when
// dir has no manifest of exactly those packages. The private apt state
// lives under cache/apt.
func fetchTree(ctx context.Context, cache, debArch, suite string, names []string, dir string, log func(string)) ([]Package, error) {
	var have struct {
		Names    []string  `json:"names"`
		Packages []Package `json:"packages"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, unpacked)); err == nil && json.Unmarshal(b, &have) == nil &&
		strings.Join(have.Names, " ") == strings.Join(names, " ") {
		return have.Packages, nil
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("guest: fetching packages needs %s (Debian's apt)", tool)
		}
	}
	a := aptState{dir: filepath.Join(cache, "apt", debArch+"-"+suite), spec: Spec{Arch: debArch, Suite: suite}, mirror: Mirror}
	if err := a.prepare(); err != nil {
		return nil, fmt.Errorf("guest: apt state: %w", err)
	}
	log(fmt.Sprintf("fetching %s of Debian %s (%s)", strings.Join(names, ", "), suite, debArch))
	if _, err := a.run(ctx, a.dir, "apt-get", "update"); err != nil {
		return nil, err
	}
	var pkgs []Package
	var args []string
	for _, n := range names {
		show, err := a.run(ctx, a.dir, "apt-cache", "show", n)
		if err != nil {
			return nil, err
		}
		p := Package{n, field(show, "Version")}
		pkgs = append(pkgs, p)
		args = append(args, p.Name+"="+p.Version)
	}
	debs := filepath.Join(a.dir, "debs")
	os.RemoveAll(debs)
	if err := os.MkdirAll(debs, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(debs)
	if _, err := a.run(ctx, debs, "apt-get", append([]string{"download"}, args...)...); err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != len(pkgs) {
		return nil, fmt.Errorf("guest: apt-get download gave %d packages, want %d", len(files), len(pkgs))
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(cctx, "dpkg", "-x", f, tmp).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("guest: dpkg -x %s: %w\n%s", f, err, out)
		}
	}
	have.Names, have.Packages = names, pkgs
	b, _ := json.MarshalIndent(have, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, unpacked), b, 0o600); err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// privateQemu fetches the board's private qemu package (for this
// machine's arch) into the cache, unpacked, not installed, and returns
// the program's path there, once it ran (--version): its libraries are
// the system's.
func privateQemu(ctx context.Context, cache string, b *Board, log func(string)) (string, error) {
	pq := b.Private
	dir := filepath.Join(cache, "tools", pq.Package+"-"+pq.Suite+"-"+hostDebArch())
	if _, err := fetchTree(ctx, cache, hostDebArch(), pq.Suite, []string{pq.Package}, dir, log); err != nil {
		return "", err
	}
	prog := filepath.Join(dir, "usr", "bin", b.Qemu.Program)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("guest: the private qemu %s does not run (%w): %s", prog, err, strings.TrimSpace(string(out)))
	}
	first, _, _ := strings.Cut(string(out), "\n")
	log(fmt.Sprintf("%s (%s %s)", first, pq.Package, pq.Suite))
	return prog, nil
}
