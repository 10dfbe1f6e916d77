package machine_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/faultline/faultline/"

// layers lists every package of the module from the bottom up; a package
// may import only packages of lower layers (DESIGN.md). Packages on one
// line are one layer and do not import each other.
var layers = [][]string{
	{"abi", "sched", "config", "timeout", "docs", "trace", "mm/internal/vmatree", "internal/lockcount"},
	{"vmfault"},
	{"phys"},
	{"pgtable"},
	{"mm"},
	{"memory"},
	{"kernel"},
	{"fault"},
	{"arch"},
	{"arch/x86", "arch/riscv", "arch/arm64", "arch/s390", "arch/powerpc"},
	{"native"},
	{"machine"},
	{"scenario"},
	{"check"},
	{"runner"},
	{"observe"},
	{"host"},
	{"hostrun"},
	{"guest"},
	{"conform"},
	{"bench"},
	{"stream"},
	{"report"},
	{"scenarios"},
	{"cmd/faultline"},
}

// TestLayers checks that every import between the module's packages points
// down, that every package is placed in a layer, and that the architecture
// front ends never see VM_FAULT_* bits: they may not import vmfault or
// memory, whose results only the generic handler decodes.
func TestLayers(t *testing.T) {
	rank := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			rank[p] = i
		}
	}
	root := filepath.Join("..")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		seen[pkg] = true
		r, ok := rank[pkg]
		if !ok {
			if !seen[pkg+"!"] {
				t.Errorf("package %s is in no layer: add it to the list in this test", pkg)
				seen[pkg+"!"] = true
			}
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			if (pkg == "arch" || strings.HasPrefix(pkg, "arch/")) && (dep == "vmfault" || dep == "memory") {
				t.Errorf("%s imports %s: front ends act on the verdict, never on VM_FAULT_* bits", path, dep)
			}
			if dr, ok := rank[dep]; ok && dr >= r {
				t.Errorf("%s imports %s, which is not below it", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range rank {
		if !seen[p] {
			t.Errorf("layer list names %s, which has no Go files", p)
		}
	}
}
