//go:build linux

package hostrun

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDetectLRU: `lru` is missing exactly where lru_gen/enabled has bit 0
// set; no file (no CONFIG_LRU_GEN) or a cleared mask is the two-list LRU,
// and a file that is not a mask leaves a note.
func TestDetectLRU(t *testing.T) {
	cases := []struct {
		name     string
		contents string // "" for no file
		missing  bool
		note     bool
	}{
		{"no lru_gen", "", false, false},
		{"off", "0x0000\n", false, false},
		{"on", "0x0007\n", true, false},
		{"core only", "0x0001", true, false},
		{"upper case", "0X0003", true, false},
		{"not a mask", "y\n", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing")
			if c.contents != "" {
				root := fakeCgroupFS(t, map[string]string{"enabled": c.contents})
				path = filepath.Join(root, "enabled")
			}
			h := &Host{Missing: map[string]string{}}
			h.detectLRU(path)
			why, miss := h.Missing["lru"]
			if miss != c.missing {
				t.Errorf("lru missing %v (%q), want %v", miss, why, c.missing)
			}
			if miss && !strings.Contains(why, strings.TrimSpace(c.contents)) {
				t.Errorf("reason %q does not quote the mask %q", why, c.contents)
			}
			if got := len(h.Notes) > 0; got != c.note {
				t.Errorf("notes %q, want a note %v", h.Notes, c.note)
			}
		})
	}
}
