//go:build linux

package hostrun

import (
	"testing"

	"github.com/faultline/faultline/config"
)

// TestImpliedNeeds: a scenario that uses a host feature without saying
// `needs` is skipped for the feature's reason on a host that lacks it,
// like one that says it.
func TestImpliedNeeds(t *testing.T) {
	missing := map[string]string{
		"memcg": "memory cgroups need root", "hugetlb": "the hugetlb pool needs root",
		"uffd": "userfaultfd is refused", "uffd-wp": "no wp", "uffd-poison": "no poison", "guard": "no guard",
	}
	tests := []struct{ name, body, want string }{
		{"memlimit", "memlimit 1M\n", "needs memcg: memory cgroups need root"},
		{"hugepages", "hugepages 1\n", "needs hugetlb: the hugetlb pool needs root"},
		{"hugetlb mmap", "mmap H 2M rw private anon hugetlb noreserve\n", "needs hugetlb: the hugetlb pool needs root"},
		{"guard", "mmap A 1p rw private anon\nmadvise A 1p guard_install\n", "needs guard: no guard"},
		{"uffd", "mmap A 1p rw private anon\nuffd U register A 1p missing\n", "needs uffd: userfaultfd is refused"},
		{"none", "mmap A 1p rw private anon\nwrite A 1\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Arch: "x86_64", Config: config.Default(), Detected: map[string]bool{}, Missing: missing}
			if got := h.Skip(parse(t, "scenario s\n"+tt.body)); got != tt.want {
				t.Errorf("Skip = %q, want %q", got, tt.want)
			}
		})
	}
	// Each userfaultfd mode is a feature of its own.
	h := &Host{Arch: "x86_64", Config: config.Default(), Detected: map[string]bool{}, Missing: map[string]string{"uffd-wp": "no wp", "uffd-poison": "no poison", "uffd-minor": "no minor"}}
	for body, want := range map[string]string{
		"mmap A 1p rw private anon\nuffd U register A 1p wp\n":                          "needs uffd-wp: no wp",
		"mmap A 1p rw private anon\nuffd U register A 1p missing\nuffd U wp A 1p on\n":  "needs uffd-wp: no wp",
		"mmap A 1p rw private anon\nuffd U register A 1p missing\nuffd U poison A 1p\n": "needs uffd-poison: no poison",
		"mmap A 1p rw private anon\nuffd U register A 1p missing\nuffd U copy A 1p 7\n": "",
		"mmap S 1p rw shared anon\nuffd U register S 1p minor\n":                        "needs uffd-minor: no minor",
	} {
		if got := h.Skip(parse(t, "scenario s\n"+body)); got != want {
			t.Errorf("Skip(%q) = %q, want %q", body, got, want)
		}
	}
}

// TestPinsOfOtherArches: a pin of a key only other arches' models read
// (epan on arm64, pgtable_levels on x86_64 and riscv64) does not skip a
// scenario where it changes nothing, detected or not; where it matters,
// an undetected key skips it.
func TestPinsOfOtherArches(t *testing.T) {
	for _, c := range []struct {
		arch, pin string
		skipped   bool
	}{
		{"arm64", "pgtable_levels=4", false},
		{"arm64", "pgtable_levels=5", false},
		{"x86_64", "pgtable_levels=4", true},
		{"riscv64", "pgtable_levels=4", true},
		{"x86_64", "epan=y", false},
		{"arm64", "epan=y", true},
	} {
		h := &Host{Arch: c.arch, Config: config.Default(), Detected: map[string]bool{}, Missing: map[string]string{}}
		got := h.Skip(parse(t, "scenario s\nconfig "+c.pin+"\nmmap A 1p rw private anon\n"))
		if (got != "") != c.skipped {
			t.Errorf("%s, config %s: Skip = %q, want skipped %v", c.arch, c.pin, got, c.skipped)
		}
	}
}
