package check

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/scenario"
)

// Writable writes obs as an expectation of st that parses and that Match
// accepts again: the observed outcome in the scenario's own terms, for
// `faultline observe`. origin is the statement whose outcome obs is: st
// itself, or the statement a wait collects. Addresses are written
// relative to the regions the statement names (its expectations first,
// then its operands), else to the region holding the address or the
// nearest one (within 16 MiB), else as a number: `@A+1p+16`, never a
// raw address where one of the scenario's names is near. A read gives a
// byte (`ok 0x41`, or `ok ret` where the statement expects ret; kderef
// too), a
// kernel copy or a uffd fill a count in decimal (`ok 4096`), SIGBUS its
// lsb. A faults count is written only as the statement's expectations
// state it (minflt, majflt, or both): where the host's minor count varies
// with I/O timing, the file states what is exact.
//
// exact reports whether want already says exactly what text says, not
// merely something Match accepts (`ok` for a read that gave 0x41 is not
// exact); no expectation is exact for plain success ("ok").
func Writable(st, origin *scenario.Stmt, want *scenario.Outcome, obs Observation, env Env) (text string, exact bool) {
	if origin == nil {
		origin = st
	}
	text = writeObs(st, origin, obs, env)
	if want == nil {
		return text, obs.Kind == scenario.OutOK && !obs.HasValue && text == "ok"
	}
	return text, sameAs(want, st, obs, env)
}

// sameAs reports whether want states exactly what writeObs writes of obs.
func sameAs(want *scenario.Outcome, st *scenario.Stmt, obs Observation, env Env) bool {
	if ok, _ := Match(want, obs, env); !ok {
		return false
	}
	switch want.Kind {
	case scenario.OutOK:
		return want.HasValue == obs.HasValue
	case scenario.OutSignal:
		return want.HasLSB == (obs.Signal == abi.SIGBUS)
	case scenario.OutFaults:
		min, maj := faultsFields(st)
		return want.HasMinflt == min && want.HasMajflt == maj
	}
	return true
}

// writeObs writes obs as an outcome of st.
func writeObs(st, origin *scenario.Stmt, obs Observation, env Env) string {
	switch obs.Kind {
	case scenario.OutOK:
		if !obs.HasValue {
			return "ok"
		}
		switch origin.Op.(type) {
		case *scenario.Read, *scenario.KDeref: // a byte
			if obs.Value == uint64(env.RetByte()) && expectsRet(st, origin) {
				return "ok ret"
			}
			return fmt.Sprintf("ok %#x", obs.Value)
		}
		return "ok " + strconv.FormatUint(obs.Value, 10) // a count
	case scenario.OutSignal:
		s := fmt.Sprintf("%s %s @%s", obs.Signal, abi.CodeName(obs.Signal, obs.Code), Name(obs.Addr, env, st, origin))
		if obs.Signal == abi.SIGBUS {
			s += fmt.Sprintf(" lsb=%d", obs.LSB)
		}
		return s
	case scenario.OutFault:
		return "fault " + Name(obs.Addr, env, st, origin) + faultFlags(obs.Write, obs.WP, obs.Minor)
	case scenario.OutCount:
		return strconv.FormatUint(obs.Value, 10)
	case scenario.OutFaults:
		min, maj := faultsFields(st)
		o := scenario.Outcome{Kind: scenario.OutFaults, Minflt: obs.Minflt, Majflt: obs.Majflt, HasMinflt: min, HasMajflt: maj}
		return o.FaultCounts()
	}
	return Observed(obs, env)
}

// faultsFields reports which counts st's expectations state, over all of
// them; both when none does.
func faultsFields(st *scenario.Stmt) (min, maj bool) {
	for _, o := range outcomes(st) {
		min, maj = min || o.HasMinflt, maj || o.HasMajflt
	}
	if !min && !maj {
		return true, true
	}
	return min, maj
}

// expectsRet reports whether an expectation of st or origin is `ok ret`.
func expectsRet(sts ...*scenario.Stmt) bool {
	for _, s := range sts {
		for _, o := range outcomes(s) {
			if o.Kind == scenario.OutOK && o.ValueRet {
				return true
			}
		}
	}
	return false
}

// outcomes lists st's expectations: the main one, then the overrides by key.
func outcomes(st *scenario.Stmt) []*scenario.Outcome {
	var out []*scenario.Outcome
	if st == nil {
		return nil
	}
	if st.Expect != nil {
		out = append(out, st.Expect)
	}
	keys := make([]string, 0, len(st.Overrides))
	for k := range st.Overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, st.Overrides[k])
	}
	return out
}

// operands lists the address operands of op.
func operands(op scenario.Op) []scenario.Addr {
	switch o := op.(type) {
	case *scenario.Munmap:
		return []scenario.Addr{o.Addr}
	case *scenario.Mprotect:
		return []scenario.Addr{o.Addr}
	case *scenario.Madvise:
		return []scenario.Addr{o.Addr}
	case *scenario.Read:
		return []scenario.Addr{o.Addr}
	case *scenario.Write:
		return []scenario.Addr{o.Addr}
	case *scenario.Exec:
		return []scenario.Addr{o.Addr}
	case *scenario.Touch:
		return []scenario.Addr{o.Addr}
	case *scenario.KRead:
		return []scenario.Addr{o.Addr}
	case *scenario.KWrite:
		return []scenario.Addr{o.Addr}
	case *scenario.KDeref:
		return []scenario.Addr{o.Addr}
	case *scenario.Uffd:
		if o.Cmd != scenario.UffdEvent {
			return []scenario.Addr{o.Addr}
		}
	case *scenario.Mmap:
		if o.At != nil {
			return []scenario.Addr{*o.At}
		}
	}
	return nil
}

// nearer is the optional part of an Env that finds regions near an
// address (Regions implements it).
type nearer interface {
	// Near lists the regions holding addr, then the one whose start or
	// end is nearest within 16 MiB, if any.
	Near(addr uint64) []Region
}

// Name writes addr as an address expression of the scenario: an
// expression of the statements' own expectations or operands that
// denotes it, else relative to a region the statements name that holds
// it, else to any region that holds it or is nearest (Regions.Near),
// else the number.
func Name(addr uint64, env Env, sts ...*scenario.Stmt) string {
	var named []string
	for _, s := range sts {
		if s == nil {
			continue
		}
		var exprs []scenario.Addr
		for _, o := range outcomes(s) {
			if o.Kind == scenario.OutSignal || o.Kind == scenario.OutFault {
				exprs = append(exprs, o.Addr)
			}
		}
		exprs = append(exprs, operands(s.Op)...)
		for _, a := range exprs {
			if v, err := env.Resolve(a); err == nil && v == addr && a.Name != "" {
				return relative(a.Name, int64(a.Offset))
			}
			if a.Name != "" && !slices.Contains(named, a.Name) {
				named = append(named, a.Name)
			}
		}
	}
	n, ok := env.(nearer)
	if !ok {
		return fmt.Sprintf("%#x", addr)
	}
	near := n.Near(addr)
	for _, g := range near {
		if addr-g.Start < g.Len && slices.Contains(named, g.Name) {
			return relative(g.Name, int64(addr-g.Start))
		}
	}
	if len(near) > 0 {
		return relative(near[0].Name, int64(addr-near[0].Start))
	}
	return fmt.Sprintf("%#x", addr)
}

// relative writes NAME+off or NAME-off with the offset in the language's
// units: whole pages in the largest unit that divides them, then the
// bytes past them (A+1p+16, B-2M, C+16).
func relative(name string, off int64) string {
	sign := "+"
	u := uint64(off)
	if off < 0 {
		sign, u = "-", -u
	}
	if u == 0 {
		return name
	}
	rest := u % 4096
	s := name
	if pages := u - rest; pages != 0 {
		s += sign + sizeText(pages)
	}
	if rest != 0 {
		s += sign + strconv.FormatUint(rest, 10)
	}
	return s
}

// sizeText writes a multiple of the page size in the largest unit that
// divides it (scenario.Format's rule).
func sizeText(n uint64) string {
	for _, u := range []struct {
		size uint64
		name string
	}{{1 << 30, "G"}, {1 << 20, "M"}, {4096, "p"}} {
		if n%u.size == 0 {
			return strconv.FormatUint(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10)
}
