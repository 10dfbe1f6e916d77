package main

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/guest"
	"github.com/faultline/faultline/machine"
)

// TestGuestUsage: the --arch path of conform and setup refuse bad
// arguments before fetching, building or booting anything.
func TestGuestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"conform", "--kernel", "6.1", "testdata/pass.fault"}, "--kernel needs --arch"},
		{[]string{"conform", "--arch", "x86_64", "testdata/pass.fault"}, "unknown arch"},
		{[]string{"conform", "--arch", "riscv64", "--kernel", "6.1", "testdata/pass.fault"}, "no riscv64 port"},
		{[]string{"conform", "--arch", "arm64", "--kernel", "4.19", "testdata/pass.fault"}, "unknown kernel"},
		{[]string{"setup", "--arch", "mips", "--dry-run"}, "no guests of that arch"},
		{[]string{"guest", "testdata/pass.fault"}, "--arch is required"},
		{[]string{"guest", "--arch", "mips", "testdata/pass.fault"}, "unknown arch"},
		{[]string{"guest", "--arch", "s390x", "--kernel", "4.19", "testdata/pass.fault"}, "unknown kernel"},
	}
	// An arch with guests that the model does not model (while there is
	// one): conform refuses it, naming faultline guest, before any boot.
	for _, a := range guest.Arches {
		if !machine.Modeled(a) {
			tests = append(tests, struct {
				args []string
				want string
			}{[]string{"conform", "--arch", a, "testdata/pass.fault"}, "the model does not model " + a})
			break
		}
	}
	for _, tt := range tests {
		_, stderr, code := runCLI(tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestSetupDryRun(t *testing.T) {
	stdout, stderr, code := runCLI("setup", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "apt-get install -y") && !strings.Contains(stdout, "everything conform --arch needs is installed") {
		t.Errorf("setup --dry-run printed %q", stdout)
	}
}

func TestGuestInitHidden(t *testing.T) {
	stdout, _, _ := runCLI("help")
	if strings.Contains(stdout, "guest-init") {
		t.Error("help lists the in-guest entry point")
	}
	if !strings.Contains(stdout, "setup") {
		t.Error("help does not list setup")
	}
}
