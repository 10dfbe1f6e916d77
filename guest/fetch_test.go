package guest

import (
	"context"
	"os"
	"testing"
)

// TestFetchNetwork downloads real kernels into the cache; it needs the
// network and runs only when FAULTLINE_GUEST_FETCH names the specs
// (e.g. "arm64:6.1 riscv64:7.2").
func TestFetchNetwork(t *testing.T) {
	specs := os.Getenv("FAULTLINE_GUEST_FETCH")
	if specs == "" || testing.Short() {
		t.Skip("set FAULTLINE_GUEST_FETCH to the kernels to fetch (needs the network)")
	}
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range splitFields(specs) {
		spec, err := ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		k, err := Fetch(context.Background(), cache, spec, func(s string) { t.Log(s) })
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		t.Logf("%s: %+v", s, k)
	}
}
