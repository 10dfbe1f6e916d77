//go:build linux

package guest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/faultline/faultline/runner"
	"github.com/faultline/faultline/timeout"
)

// TestBootGuest boots a real guest with one scenario of the corpus and
// checks that its result comes back: arm64 with Linux 6.1, or the specs
// FAULTLINE_GUEST_BOOT names ("s390x:6.1 ppc64le:7.2"), one at a time.
// It needs qemu, the cross compiler and the kernel in the cache
// (faultline setup, then one faultline conform or guest --arch), and is
// not run under -short.
func TestBootGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a qemu guest: not under -short")
	}
	specs := []string{"arm64:6.1"}
	if s := os.Getenv("FAULTLINE_GUEST_BOOT"); s != "" {
		specs = splitFields(s)
	}
	for _, s := range specs {
		t.Run(s, func(t *testing.T) { bootOne(t, s) })
	}
}

func bootOne(t *testing.T, name string) {
	spec, err := ParseSpec(name)
	if err != nil {
		t.Fatal(err)
	}
	if miss := Missing(spec.Arch); len(miss) > 0 {
		t.Skipf("needs %v (faultline setup --arch %s)", miss, spec.Arch)
	}
	cache, err := CacheDir()
	if err != nil {
		t.Skip(err)
	}
	if _, err := loadKernel(cache + "/kernels/" + spec.Arch + "-" + spec.Suite); err != nil {
		t.Skipf("no %s kernel in the cache (faultline guest --arch %s --kernel %s fetches it): %v", spec, spec.Arch, spec.Version, err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the guest's faultline")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(SourceEnv, root+"/..")
	src, err := os.ReadFile("../scenarios/anon-fresh-read-zero.fault")
	if err != nil {
		t.Fatal(err)
	}
	scale := timeout.Default()
	p, err := Prepare(context.Background(), spec, []Scenario{{Name: "scenarios/anon-fresh-read-zero.fault", Src: src}}, scale, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := p.Machine.Run(context.Background(), nil)
	if b.Err != nil || !b.Done {
		t.Fatalf("boot: %v\n%s", b.Err, b.ConsoleTail(20))
	}
	if b.Host == nil || b.Host.Arch != spec.Arch || len(b.Results) != 1 {
		t.Fatalf("boot: host %+v, %d results", b.Host, len(b.Results))
	}
	r := b.Results[0]
	if r.Skip != "" || r.Report.Status != runner.Pass {
		t.Errorf("the scenario in the guest: skip %q, %s: %s", r.Skip, r.Report.Status, r.Report.Reason)
	}
	t.Logf("booted in %.1fs, %.1fs in all", b.BootSeconds, b.Seconds)
}
