package guest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Spec names a guest kernel: an architecture (one of Arches) and a
// Debian suite, given as the suite or as the kernel version it carries.
type Spec struct {
	Arch  string `json:"arch"`
	Suite string `json:"suite"`
	// Version is the kernel's MAJOR.MINOR the suite carries.
	Version string `json:"version"`
}

func (s Spec) String() string { return s.Arch + ":" + s.Version }

// suites maps the kernel versions to the Debian suites carrying them.
var suites = []struct{ version, suite string }{
	{"6.1", "bookworm"},
	{"6.12", "trixie"},
	{"7.2", "forky"},
}

// ParseSpec parses "ARCH[:VERSION-or-SUITE]".
func ParseSpec(s string) (Spec, error) {
	arch, ver, _ := strings.Cut(s, ":")
	b := BoardOf(arch)
	if b == nil {
		return Spec{}, fmt.Errorf("guest: unknown arch %q (known: %s)", arch, strings.Join(Arches, ", "))
	}
	if ver == "" {
		ver = b.Versions[0]
	}
	for _, v := range suites {
		if ver == v.version || ver == v.suite {
			if !b.hasVersion(v.version) {
				return Spec{}, fmt.Errorf("guest: Debian %s (Linux %s) has no %s port", v.suite, v.version, arch)
			}
			return Spec{Arch: arch, Suite: v.suite, Version: v.version}, nil
		}
	}
	var known2 []string
	for _, v := range suites {
		known2 = append(known2, v.version+" ("+v.suite+")")
	}
	return Spec{}, fmt.Errorf("guest: unknown kernel %q (known: %s)", ver, strings.Join(known2, ", "))
}

// Mirror and Keyring are where the kernels come from and what signs them.
const (
	Mirror  = "http://deb.debian.org/debian"
	Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
)

// aptState is a private apt configuration for one suite and arch: its
// own sources list, lists, status file and cache, so that nothing of the
// system's apt state is read or changed.
type aptState struct {
	dir    string
	spec   Spec
	mirror string
	// noSecurity leaves a stable suite's security updates out.
	noSecurity bool
}

// securityMirror carries the security updates of stable suites, where
// their kernels are updated (bookworm's 6.1 there is newer than in the
// point release).
const securityMirror = "http://deb.debian.org/debian-security"

// debArch is Debian's name of the spec's arch (ppc64el for ppc64le).
func (a aptState) debArch() string {
	if b := BoardOf(a.spec.Arch); b != nil {
		return b.Debian
	}
	return a.spec.Arch // already Debian's: this machine's own (tools)
}

// sourcesList is the state's sources: the suite's main component (and,
// for a stable suite, its security updates), for the guest's arch only,
// checked with the Debian keyring.
func (a aptState) sourcesList() string {
	s := fmt.Sprintf("deb [arch=%s signed-by=%s] %s %s main\n", a.debArch(), Keyring, a.mirror, a.spec.Suite)
	if a.security() {
		s += fmt.Sprintf("deb [arch=%s signed-by=%s] %s %s-security main\n", a.debArch(), Keyring, securityMirror, a.spec.Suite)
	}
	return s
}

// security reports whether the state's sources have the suite's
// security updates: a stable suite's, from Debian's own mirror.
func (a aptState) security() bool {
	return (a.spec.Suite == "bookworm" || a.spec.Suite == "trixie") && a.mirror == Mirror && !a.noSecurity
}

// options are the -o options every apt command of the state gets.
func (a aptState) options() []string {
	d := a.dir
	o := []string{
		"APT::Architecture=" + a.debArch(),
		"APT::Architectures=" + a.debArch(),
		"Dir::State=" + filepath.Join(d, "state"),
		"Dir::State::Lists=" + filepath.Join(d, "state", "lists"),
		"Dir::State::status=" + filepath.Join(d, "state", "status"),
		"Dir::Cache=" + filepath.Join(d, "cache"),
		"Dir::Etc::SourceList=" + filepath.Join(d, "sources.list"),
		"Dir::Etc::SourceParts=" + filepath.Join(d, "empty"),
		"Dir::Etc::Preferences=" + filepath.Join(d, "empty", "preferences"),
		"Dir::Etc::PreferencesParts=" + filepath.Join(d, "empty"),
		"Acquire::Languages=none",
		"Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false",
		"APT::Get::AllowUnauthenticated=false",
		"Acquire::AllowInsecureRepositories=false",
	}
	var args []string
	for _, x := range o {
		args = append(args, "-o", x)
	}
	return args
}

// prepare makes the state's directories and files.
func (a aptState) prepare() error {
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "empty", "debs"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(a.dir, "state", "status"), nil, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(a.dir, "sources.list"), []byte(a.sourcesList()), 0o600)
}

// run runs an apt tool of the state, bounded, and returns its stdout.
func (a aptState) run(ctx context.Context, dir, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append(a.options(), args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("guest: %s %s: %w\n%s", tool, strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

// Package is one Debian package of a kernel.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Kernel is a fetched, unpacked guest kernel.
type Kernel struct {
	Spec     Spec      `json:"spec"`
	Release  string    `json:"release"` // uname -r, the modules directory's name
	Packages []Package `json:"packages"`
	Image    string    `json:"image"`   // the kernel image qemu boots
	Config   string    `json:"config"`  // its .config
	Modules  string    `json:"modules"` // lib/modules/RELEASE
}

// depends returns the first Depends of pkg whose name matches re.
func dependsOn(show []byte, re *regexp.Regexp) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(show))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "Depends:")
		if !ok {
			continue
		}
		for _, alt := range strings.Split(line, ",") {
			for _, d := range strings.Split(alt, "|") {
				name := strings.Fields(strings.TrimSpace(d))
				if len(name) > 0 && re.MatchString(name[0]) {
					out = append(out, name[0])
				}
			}
		}
		break // the first (newest) stanza only
	}
	return out
}

// field returns the value of a control field in the first stanza.
func field(show []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(show))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" {
			break
		}
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// kernelDeps matches the packages of release rel beside the image
// package: forky's binary, base (config) and modules packages.
func kernelDeps(rel string) *regexp.Regexp {
	return regexp.MustCompile(`^linux-(base|binary|modules)-` + regexp.QuoteMeta(rel) + `$`)
}

// manifest is the file that records a fetched kernel in its directory.
const manifest = "kernel.json"

// Fetch returns the kernel of spec from the cache, or downloads it
// there: the suite's linux-image-ARCH metapackage names the kernel
// package; it and the packages it depends on of the same release (the
// binary, base and modules packages of newer suites) are downloaded with
// apt-get download in a private apt state and unpacked with dpkg -x.
// log receives progress lines.
func Fetch(ctx context.Context, cache string, spec Spec, log func(string)) (*Kernel, error) {
	kdir := filepath.Join(cache, "kernels", spec.Arch+"-"+spec.Suite)
	if k, err := loadKernel(kdir); err == nil {
		return k, nil
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("guest: fetching a kernel needs %s (Debian's apt)", tool)
		}
	}
	if _, err := os.Stat(Keyring); err != nil {
		return nil, fmt.Errorf("guest: fetching a kernel needs the Debian keyring %s (apt-get install debian-archive-keyring)", Keyring)
	}
	a := aptState{dir: filepath.Join(cache, "apt", spec.Arch+"-"+spec.Suite), spec: spec, mirror: Mirror}
	k, err := fetchKernel(ctx, a, kdir, log)
	if err != nil && a.security() {
		// A security update the index names may be missing from the
		// pool (404: seen for trixie's s390x 6.12.118): the point
		// release's kernel then.
		log(fmt.Sprintf("%v\nretrying without %s", err, securityMirror))
		a.noSecurity = true
		k, err = fetchKernel(ctx, a, kdir, log)
	}
	return k, err
}

// fetchKernel is Fetch's download with the apt state a.
func fetchKernel(ctx context.Context, a aptState, kdir string, log func(string)) (*Kernel, error) {
	spec := a.spec
	if err := a.prepare(); err != nil {
		return nil, fmt.Errorf("guest: apt state: %w", err)
	}
	log(fmt.Sprintf("fetching the %s kernel of Debian %s (%s)", spec.Arch, spec.Suite, a.mirror))
	if _, err := a.run(ctx, a.dir, "apt-get", "update"); err != nil {
		return nil, err
	}
	bd := BoardOf(spec.Arch)
	if bd == nil {
		return nil, fmt.Errorf("guest: no guests of arch %q", spec.Arch)
	}
	meta := "linux-image-" + bd.Flavour
	show, err := a.run(ctx, a.dir, "apt-cache", "show", meta)
	if err != nil {
		return nil, err
	}
	imgs := dependsOn(show, regexp.MustCompile(`^linux-image-\d`))
	if len(imgs) == 0 {
		return nil, fmt.Errorf("guest: %s in %s depends on no linux-image package", meta, spec.Suite)
	}
	img := imgs[0]
	rel := strings.TrimPrefix(img, "linux-image-")
	if !strings.HasPrefix(rel, spec.Version+".") {
		return nil, fmt.Errorf("guest: %s in %s is %s, not Linux %s", meta, spec.Suite, img, spec.Version)
	}
	show, err = a.run(ctx, a.dir, "apt-cache", "show", img)
	if err != nil {
		return nil, err
	}
	pkgs := []Package{{img, field(show, "Version")}}
	for _, d := range dependsOn(show, kernelDeps(rel)) {
		s, err := a.run(ctx, a.dir, "apt-cache", "show", d)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, Package{d, field(s, "Version")})
	}
	debs := filepath.Join(a.dir, "debs")
	os.RemoveAll(debs)
	if err := os.MkdirAll(debs, 0o700); err != nil {
		return nil, err
	}
	var args []string
	for _, p := range pkgs {
		args = append(args, p.Name+"="+p.Version)
	}
	log("downloading " + strings.Join(args, " "))
	if _, err := a.run(ctx, debs, "apt-get", append([]string{"download"}, args...)...); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(kdir), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(kdir), ".unpack-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != len(pkgs) {
		return nil, fmt.Errorf("guest: apt-get download gave %d packages, want %d", len(files), len(pkgs))
	}
	tree := filepath.Join(tmp, "root")
	for _, f := range files {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(cctx, "dpkg", "-x", f, tree).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("guest: dpkg -x %s: %w\n%s", f, err, out)
		}
	}
	k, err := locate(tree, rel)
	if err != nil {
		return nil, err
	}
	k.Spec, k.Packages = spec, pkgs
	os.RemoveAll(kdir)
	if err := os.Rename(tmp, kdir); err != nil {
		return nil, err
	}
	tmp = "" // nothing to remove
	k = k.under(tree, filepath.Join(kdir, "root"))
	b, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(filepath.Join(kdir, manifest), b, 0o600); err != nil {
		return nil, err
	}
	os.RemoveAll(debs)
	return k, nil
}

// under moves the kernel's paths from one tree to another.
func (k *Kernel) under(from, to string) *Kernel {
	c := *k
	for _, p := range []*string{&c.Image, &c.Config, &c.Modules} {
		if r, err := filepath.Rel(from, *p); err == nil {
			*p = filepath.Join(to, r)
		}
	}
	return &c
}

// loadKernel reads the manifest of a fetched kernel and checks its files.
func loadKernel(kdir string) (*Kernel, error) {
	b, err := os.ReadFile(filepath.Join(kdir, manifest))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	for _, p := range []string{k.Image, k.Config, k.Modules} {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	return &k, nil
}

// locate finds the image, config and modules of release rel in an
// unpacked tree: /boot and /lib/modules (bookworm, trixie) or
// /usr/lib/modules/REL (forky's split packages).
func locate(tree, rel string) (*Kernel, error) {
	k := &Kernel{Release: rel}
	first := func(cands ...string) string {
		for _, c := range cands {
			if _, err := os.Stat(filepath.Join(tree, c)); err == nil {
				return filepath.Join(tree, c)
			}
		}
		return ""
	}
	k.Modules = first("usr/lib/modules/"+rel, "lib/modules/"+rel)
	k.Image = first("boot/vmlinuz-"+rel, "usr/lib/modules/"+rel+"/vmlinuz", "boot/vmlinux-"+rel, "usr/lib/modules/"+rel+"/vmlinux")
	k.Config = first("boot/config-"+rel, "usr/lib/modules/"+rel+"/config")
	var missing []string
	for name, p := range map[string]string{"image": k.Image, "config": k.Config, "modules": k.Modules} {
		if p == "" {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return nil, fmt.Errorf("guest: the packages of %s hold no %s", rel, strings.Join(missing, ", "))
	}
	return k, nil
}

// splitFields splits a list on spaces and commas.
func splitFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}
