package guest

import (
	"context"
	"path/filepath"
	"testing"
)

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/fs/ext4/ext4.ko":             "ext4",
		"kernel/crypto/crc32c-generic.ko.xz": "crc32c_generic",
		"/x/drivers/block/virtio_blk.ko.zst": "virtio_blk",
	} {
		if got := modName(in); got != want {
			t.Errorf("modName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestResolveModulesCached resolves the disk modules of every kernel in
// the cache (skipped when there is none).
func TestResolveModulesCached(t *testing.T) {
	cache, err := CacheDir()
	if err != nil {
		t.Skip(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(cache, "kernels", "*"))
	if len(dirs) == 0 {
		t.Skip("no kernel in the cache " + cache + " (faultline conform --arch fetches them)")
	}
	for _, d := range dirs {
		k, err := loadKernel(d)
		if err != nil {
			continue
		}
		mods, err := ResolveModules(context.Background(), k.Modules, BoardOf(k.Spec.Arch).DiskModules)
		if err != nil {
			t.Errorf("%s: %v", k.Spec, err)
			continue
		}
		var names []string
		seen, loaded := map[string]bool{}, map[string]bool{}
		for _, m := range mods {
			loaded[m.Name] = true
		}
		for _, m := range mods {
			deps, err := modinfoDepends(m.Body)
			if err != nil {
				t.Errorf("%s: %s: %v", k.Spec, m.Name, err)
			}
			for _, dep := range deps {
				if loaded[dep] && !seen[dep] {
					t.Errorf("%s: %s comes before its dependency %s", k.Spec, m.Name, dep)
				}
			}
			seen[m.Name] = true
			names = append(names, m.Name)
		}
		if !seen["ext4"] || !seen["virtio_blk"] {
			t.Errorf("%s: ext4 or virtio_blk missing from %v", k.Spec, names)
		}
		t.Logf("%s: %v", k.Spec, names)
	}
}
