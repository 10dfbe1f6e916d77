package scenario

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/faultline/faultline/abi"
)

// Format prints s back as scenario text in a canonical form: the header
// first (scenario, about, arch, needs, config), a blank line, then one
// statement per line with single spaces, no comments, sizes in the largest
// unit that divides them exactly, absolute addresses and byte values in
// hex, other numbers in decimal, mmap flags and expectation overrides in a
// fixed order. Parse(Format(s)) gives a tree equal to s apart from
// positions, Stmt.Text and Scenario.Lines.
func Format(s *Scenario) []byte {
	if s == nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("scenario " + s.Name + "\n")
	if s.About != "" {
		b.WriteString("about \"" + s.About + "\"\n")
	}
	if len(s.Arches) > 0 {
		b.WriteString("arch " + strings.Join(s.Arches, " ") + "\n")
	}
	if len(s.Needs) > 0 {
		b.WriteString("needs " + strings.Join(s.Needs, " ") + "\n")
	}
	if len(s.Config) > 0 {
		b.WriteString("config")
		for _, pin := range s.Config {
			b.WriteString(" " + pin.Key + "=" + pin.Value)
		}
		b.WriteByte('\n')
	}
	if len(s.Body) > 0 {
		b.WriteByte('\n')
	}
	for _, st := range s.Body {
		formatStmt(&b, st)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func formatStmt(b *bytes.Buffer, st *Stmt) {
	if st == nil || st.Op == nil {
		b.WriteString("# (statement without an operation)")
		return
	}
	if st.Actor != "" && st.Actor != "main" {
		b.WriteString(st.Actor + ": ")
	}
	b.WriteString(formatOp(st.Op))
	if st.Background {
		b.WriteString(" &")
	}
	if st.Expect != nil {
		b.WriteString(" => " + formatOutcome(st.Expect, st.Op))
	}
	for _, arch := range overrideOrder(st.Overrides) {
		b.WriteString(" " + arch + "=> " + formatOutcome(st.Overrides[arch], st.Op))
	}
}

// overrideOrder lists the keys of overrides from the least specific to
// the most (kernel…, ARCH, ARCH+kernel…, generic, …, ARCH+generic+kernel…),
// arches in KnownArches order, ranges by version, so that the output does
// not depend on map order.
func overrideOrder(m map[string]*Outcome) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, errA := ParseSelector(keys[i])
		b, errB := ParseSelector(keys[j])
		if errA != nil || errB != nil {
			return keys[i] < keys[j]
		}
		if a.rank() != b.rank() {
			return a.rank() < b.rank()
		}
		if ai, bi := slices.Index(KnownArches, a.Arch), slices.Index(KnownArches, b.Arch); ai != bi {
			return ai < bi
		}
		if c := a.Version.Compare(b.Version); c != 0 {
			return c < 0
		}
		return a.Op < b.Op
	})
	return keys
}

func formatOp(op Op) string {
	var w []string
	add := func(words ...string) { w = append(w, words...) }
	add(op.Keyword())
	switch o := op.(type) {
	case *Mmap:
		add(o.Name, formatSize(o.Size), o.Prot.String())
		if o.Shared {
			add("shared")
		} else {
			add("private")
		}
		if o.File == "" {
			add("anon")
		} else {
			add("file=" + o.File)
			if o.Off != 0 {
				add("off=" + formatSize(o.Off))
			}
		}
		for _, f := range []struct {
			on   bool
			name string
		}{{o.GrowsDown, "growsdown"}, {o.Populate, "populate"}, {o.Hugetlb, "hugetlb"}, {o.NoReserve, "noreserve"}, {o.Locked, "locked"}} {
			if f.on {
				add(f.name)
			}
		}
		if o.At != nil {
			add("at=" + formatAddr(*o.At))
		}
	case *Munmap:
		add(formatAddr(o.Addr), formatSize(o.Size))
	case *Mprotect:
		add(formatAddr(o.Addr), formatSize(o.Size), o.Prot.String())
	case *Madvise:
		add(formatAddr(o.Addr), formatSize(o.Size), string(o.Advice))
	case *File:
		add(o.Name, formatSize(o.Size))
		if o.Fill != (Byte{}) {
			add("fill=" + formatByte(o.Fill))
		}
	case *Truncate:
		add(o.Name, formatSize(o.Size))
	case *Rlimit:
		add(o.Resource, formatSize(o.Size))
	case *Memlimit:
		add(formatSize(o.Size))
	case *Hugepages:
		add(strconv.FormatUint(o.N, 10))
	case *Read:
		add(formatAddr(o.Addr))
	case *Write:
		add(formatAddr(o.Addr))
		if o.Value != (Byte{Value: 0x41}) {
			add(formatByte(o.Value))
		}
	case *Exec:
		add(formatAddr(o.Addr))
	case *Touch:
		add(formatAddr(o.Addr), formatSize(o.Size), o.Access.String())
	case *KRead:
		add(formatAddr(o.Addr), formatSize(o.Size))
		if o.Value != (Byte{}) {
			add(formatByte(o.Value))
		}
	case *KWrite:
		add(formatAddr(o.Addr), formatSize(o.Size))
	case *KDeref:
		add(formatAddr(o.Addr))
		if o.Write {
			add("write")
		}
	case *Thread:
		add(o.Name)
	case *Fork:
		add(o.Name)
	case *Sigaction:
		add(abi.Signal(o.Signal).String(), o.Action)
	case *Kill:
		add(o.Target, abi.Signal(o.Signal).String())
	case *Caught:
		add(o.Target, abi.Signal(o.Signal).String())
	case *Wait:
		add(o.Target)
	case *Faults:
		add(o.Target)
	case *Evict:
		add(o.Name)
	case *IO:
		if o.Hold {
			add(o.Name, "hold")
		} else {
			add(o.Name, "release")
		}
	case *Uffd:
		add(o.Name, string(o.Cmd))
		if o.Cmd == UffdEvent {
			break
		}
		add(formatAddr(o.Addr), formatSize(o.Size))
		switch o.Cmd {
		case UffdRegister:
			for _, f := range []struct {
				on   bool
				name string
			}{{o.Missing, "missing"}, {o.WP, "wp"}, {o.Minor, "minor"}, {o.SigBus, "sigbus"}} {
				if f.on {
					add(f.name)
				}
			}
		case UffdCopy:
			if o.Value != (Byte{}) {
				add(formatByte(o.Value))
			}
		case UffdWP:
			if o.On {
				add("on")
			} else {
				add("off")
			}
		}
	}
	return strings.Join(w, " ")
}

func formatOutcome(o *Outcome, op Op) string {
	switch o.Kind {
	case OutOK:
		switch {
		case !o.HasValue:
			return "ok"
		case o.ValueRet:
			return "ok ret"
		}
		// A read yields a byte, best shown like the bytes written;
		// everything else yields a count.
		if _, ok := op.(*Read); ok {
			return fmt.Sprintf("ok %#x", o.Value)
		}
		return "ok " + strconv.FormatUint(o.Value, 10)
	case OutSignal:
		sig := abi.Signal(o.Signal)
		s := sig.String() + " " + abi.CodeName(sig, abi.Code(o.Code)) + " @" + formatAddr(o.Addr)
		if o.HasLSB {
			s += " lsb=" + strconv.Itoa(o.LSB)
		}
		return s
	case OutErrno:
		return abi.Errno(o.Errno).String()
	case OutKilled:
		return "killed " + abi.Signal(o.Signal).String()
	case OutBlocked:
		return "blocked"
	case OutFault:
		s := "fault " + formatAddr(o.Addr)
		if o.FaultWrite {
			s += " write"
		}
		if o.FaultWP {
			s += " wp"
		}
		if o.FaultMinor {
			s += " minor"
		}
		return s
	case OutOops:
		return "oops"
	case OutLivelock:
		return "livelock"
	case OutCount:
		return strconv.FormatUint(o.Count, 10)
	case OutFaults:
		return o.FaultCounts()
	}
	return fmt.Sprintf("outcome?%d", int(o.Kind))
}

// formatSize writes n in the largest unit that divides it: 2M rather than
// 512p, 3p rather than 12k.
func formatSize(n uint64) string {
	units := []struct {
		size uint64
		name string
	}{{1 << 30, "G"}, {1 << 20, "M"}, {4096, "p"}, {1 << 10, "k"}}
	if n != 0 {
		for _, u := range units {
			if n%u.size == 0 {
				return strconv.FormatUint(n/u.size, 10) + u.name
			}
		}
	}
	return strconv.FormatUint(n, 10)
}

// formatAddr writes an offset past 2^63 as a subtraction: X-1p, not
// X+18446744073709547520.
func formatAddr(a Addr) string {
	switch {
	case a.Name == "":
		return fmt.Sprintf("%#x", a.Offset)
	case a.Offset == 0:
		return a.Name
	case a.Offset < 1<<63:
		return a.Name + "+" + formatSize(a.Offset)
	}
	return a.Name + "-" + formatSize(-a.Offset)
}

func formatByte(v Byte) string {
	if v.Ret {
		return "ret"
	}
	return fmt.Sprintf("%#02x", v.Value)
}
