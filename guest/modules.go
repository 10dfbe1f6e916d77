package guest

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Module is one module to load in the guest, decompressed.
type Module struct {
	Name string
	Body []byte
}

// modName is a module's name from its file's.
func modName(file string) string {
	b := filepath.Base(file)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// decompress returns a module file's ELF: .ko as is, .ko.xz and .ko.zst
// through xz and zstd (the guest then loads plain ELF, whatever its
// kernel's CONFIG_MODULE_DECOMPRESS).
func decompress(ctx context.Context, path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("guest: %s: unknown module compression", path)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-dc", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("guest: %s -dc %s: %w (%s)", tool, path, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// modinfoDepends reads the depends= field of a module's .modinfo section.
func modinfoDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil
	}
	b, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				out = append(out, strings.ReplaceAll(d, "-", "_"))
			}
			return out, nil
		}
	}
	return nil, nil
}

// ResolveModules returns the modules of want that the kernel in dir (a
// lib/modules/RELEASE) has as files, with every dependency first, each
// once, decompressed. Names in modules.builtin are skipped.
func ResolveModules(ctx context.Context, dir string, want []string) ([]Module, error) {
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[modName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("guest: modules: %w", err)
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[modName(l)] = true
		}
	}
	var out []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("guest: modules: a dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		p, ok := files[name]
		if !ok {
			if builtin[name] || len(chain) == 0 {
				return nil // built in, or an optional module this kernel lacks
			}
			return fmt.Errorf("guest: modules: %s needs %s, which is neither a file nor built in", chain[len(chain)-1], name)
		}
		ko, err := decompress(ctx, p)
		if err != nil {
			return err
		}
		deps, err := modinfoDepends(ko)
		if err != nil {
			return fmt.Errorf("guest: modules: %s: %w", p, err)
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		out = append(out, Module{Name: name, Body: ko})
		return nil
	}
	for _, w := range want {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
