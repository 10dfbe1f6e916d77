package abi

import "testing"

// TestArchName: Go's names become the kernel's (uname -m); unknown ones
// become "".
func TestArchName(t *testing.T) {
	for goarch, want := range map[string]string{
		"amd64": "x86_64", "arm64": "arm64", "riscv64": "riscv64",
		"ppc64le": "ppc64le", "s390x": "s390x", "loong64": "loongarch64",
		"386": "", "wasm": "", "": "",
	} {
		if got := ArchName(goarch); got != want {
			t.Errorf("ArchName(%q) = %q, want %q", goarch, got, want)
		}
	}
}
