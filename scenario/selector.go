package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/config"
)

// A Selector is the KEY of a "KEY=> OUTCOME" override: the parts,
// joined by "+", say where the outcome holds — an arch (today's kernel on
// it), "generic" (the arch converted to the generic handler), and a range
// of kernel versions ("kernel>=7.0", "kernel<6.3", "kernel=6.1"). A part
// left out holds everywhere.
type Selector struct {
	Arch    string // "" for every arch
	Generic bool
	// Op and Version bound the kernel versions: Op is "", "<", "<=",
	// "=", ">=" or ">" (Op "" holds for every version).
	Op      string
	Version config.Version
}

// String is the selector as a canonical key of Stmt.Overrides: the arch,
// then generic, then the kernel range.
func (s Selector) String() string {
	var parts []string
	if s.Arch != "" {
		parts = append(parts, s.Arch)
	}
	if s.Generic {
		parts = append(parts, Generic)
	}
	if s.Op != "" {
		parts = append(parts, "kernel"+s.Op+s.Version.String())
	}
	return strings.Join(parts, "+")
}

// HoldsFor reports whether the selector holds for arch under the generic
// handler (or not) at kernel version v.
func (s Selector) HoldsFor(arch string, generic bool, v config.Version) bool {
	if s.Arch != "" && s.Arch != arch || s.Generic && !generic {
		return false
	}
	c := v.Compare(s.Version)
	switch s.Op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	}
	return true
}

// rank orders selectors that hold for one run: the most specific wins. The
// handler counts most (what the generic handler does is what a file says
// of it), then the arch, then the kernel range.
func (s Selector) rank() int {
	r := 0
	if s.Generic {
		r += 4
	}
	if s.Arch != "" {
		r += 2
	}
	if s.Op != "" {
		r++
	}
	return r
}

// versions returns the half-open interval [lo, hi) of version numbers
// the range holds for, versions as Major<<16|Minor.
func (s Selector) versions() (lo, hi int) {
	v := s.Version.Major<<16 | s.Version.Minor
	switch s.Op {
	case "<":
		return 0, v
	case "<=":
		return 0, v + 1
	case "=":
		return v, v + 1
	case ">=":
		return v, 1 << 40
	case ">":
		return v + 1, 1 << 40
	}
	return 0, 1 << 40
}

// overlaps reports whether s and t could both hold for one run with the
// same rank: the same arch and handler parts, and kernel ranges that
// share a version.
func (s Selector) overlaps(t Selector) bool {
	if s.Arch != t.Arch || s.Generic != t.Generic || (s.Op == "") != (t.Op == "") {
		return false
	}
	alo, ahi := s.versions()
	blo, bhi := t.versions()
	return alo < bhi && blo < ahi
}

// ParseSelector parses the KEY of a "KEY=>" override, or says what is
// wrong with it.
func ParseSelector(key string) (Selector, error) {
	var s Selector
	seenKernel := false
	for rest, more := key, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, "+")
		switch {
		case part == Generic:
			if s.Generic {
				return Selector{}, fmt.Errorf("generic twice in override %s", quote(key))
			}
			s.Generic = true
		case strings.HasPrefix(part, "kernel"):
			if seenKernel {
				return Selector{}, fmt.Errorf("two kernel ranges in override %s (one per override)", quote(key))
			}
			seenKernel = true
			rest := strings.TrimPrefix(part, "kernel")
			op := ""
			for _, o := range []string{"<=", ">=", "<", ">", "="} {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" {
				return Selector{}, fmt.Errorf("expected a kernel range (kernel<V, kernel<=V, kernel=V, kernel>=V or kernel>V) in override, found %s", quote(part))
			}
			v, err := config.ParseVersion(strings.TrimPrefix(rest, op))
			if err != nil {
				return Selector{}, fmt.Errorf("in override %s: %v", quote(key), err)
			}
			s.Op, s.Version = op, v
		case slices.Contains(KnownArches, part):
			if s.Arch != "" {
				return Selector{}, fmt.Errorf("two architectures in override %s", quote(key))
			}
			s.Arch = part
		default:
			return Selector{}, fmt.Errorf("unknown architecture %s in override (expected one of: %s; generic; a kernel range such as kernel>=7.0; or several joined by +, as in riscv64+generic)",
				quote(part), strings.Join(KnownArches, ", "))
		}
	}
	return s, nil
}
