// Package scenarios is the corpus of scenarios built into the faultline
// binary: every .fault file of this directory. Each one states outcomes
// observed on a real Linux kernel (see docs/host-kernel-observations.md)
// or, for model-only outcomes, what the kernel's code implies.
package scenarios

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.fault
var files embed.FS

// File is one corpus file.
type File struct {
	Name string // as reported: scenarios/NAME.fault
	Src  []byte
}

// All returns the corpus, sorted by name.
func All() []File {
	names, err := fs.Glob(files, "*.fault")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, n := range names {
		src, err := files.ReadFile(n)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		out = append(out, File{Name: "scenarios/" + n, Src: src})
	}
	return out
}
