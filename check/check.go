// Package check compares what happened when a statement ran (an
// Observation, from the model or from the host kernel) with what its
// scenario expects, and prints both the way the scenario language writes
// them.
package check

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/scenario"
)

// Observation is the outcome a statement had, with addresses resolved.
type Observation struct {
	Kind     scenario.OutcomeKind
	HasValue bool
	Value    uint64 // OutOK: the byte read or the count; OutCount: the count
	Signal   abi.Signal
	Code     abi.Code
	Addr     uint64 // OutSignal si_addr; OutFault the page address
	LSB      int
	Errno    abi.Errno
	// OutFault flags.
	Write, WP, Minor bool
	// OutFaults: fault counts.
	Minflt, Majflt uint64
}

// Env resolves what an expectation names: region addresses and the
// architecture's ret byte.
type Env interface {
	// Resolve returns the address an expression denotes, or an
	// *AddrError when it denotes none: its region is not bound, or the
	// offset takes it past an end of the address space.
	Resolve(a scenario.Addr) (uint64, error)
	// RetByte is the architecture's `ret`.
	RetByte() byte
	// Symbolize writes addr relative to the nearest region, if any.
	Symbolize(addr uint64) string
}

// Match reports whether obs satisfies want; a nil want means the statement
// must not fail. When it does not match, the string explains what could
// not be compared (an unbound region), or is empty.
func Match(want *scenario.Outcome, obs Observation, env Env) (bool, string) {
	if want == nil {
		return obs.Kind == scenario.OutOK, ""
	}
	if want.Kind != obs.Kind {
		return false, ""
	}
	switch want.Kind {
	case scenario.OutOK:
		if !want.HasValue {
			return true, ""
		}
		v := want.Value
		if want.ValueRet {
			v = uint64(env.RetByte())
		}
		return obs.HasValue && obs.Value == v, ""
	case scenario.OutSignal:
		addr, err := env.Resolve(want.Addr)
		if err != nil {
			return false, reason(err)
		}
		if abi.Signal(want.Signal) != obs.Signal || abi.Code(want.Code) != obs.Code || addr != obs.Addr {
			return false, ""
		}
		return !want.HasLSB || want.LSB == obs.LSB, ""
	case scenario.OutErrno:
		return abi.Errno(want.Errno) == obs.Errno, ""
	case scenario.OutKilled:
		return abi.Signal(want.Signal) == obs.Signal, ""
	case scenario.OutFault:
		addr, err := env.Resolve(want.Addr)
		if err != nil {
			return false, reason(err)
		}
		return addr == obs.Addr && want.FaultWrite == obs.Write && want.FaultWP == obs.WP && want.FaultMinor == obs.Minor, ""
	case scenario.OutCount:
		return want.Count == obs.Value, ""
	case scenario.OutFaults:
		return (!want.HasMinflt || want.Minflt == obs.Minflt) && (!want.HasMajflt || want.Majflt == obs.Majflt), ""
	}
	return true, "" // blocked, oops, livelock: the kind is everything
}

// Expected prints an expectation as the language writes it, valid as
// the outcome of a statement: what resolving it adds (the address a name
// denotes, the ret byte, that no expectation means "must not fail") comes
// after a "#", as a comment would. nil is "ok" (the statement must not
// fail).
func Expected(want *scenario.Outcome, env Env) string {
	if want == nil {
		return "ok  # no expectation: must not fail"
	}
	switch want.Kind {
	case scenario.OutOK:
		switch {
		case want.ValueRet:
			return fmt.Sprintf("ok ret  # %#x", env.RetByte())
		case want.HasValue:
			return fmt.Sprintf("ok %#x", want.Value)
		}
		return "ok"
	case scenario.OutSignal:
		at, note := addrText(want.Addr, env)
		s := fmt.Sprintf("%s %s @%s", abi.Signal(want.Signal), abi.CodeName(abi.Signal(want.Signal), abi.Code(want.Code)), at)
		if want.HasLSB {
			s += fmt.Sprintf(" lsb=%d", want.LSB)
		}
		return s + note
	case scenario.OutErrno:
		return abi.Errno(want.Errno).String()
	case scenario.OutKilled:
		return "killed " + abi.Signal(want.Signal).String()
	case scenario.OutBlocked:
		return "blocked"
	case scenario.OutFault:
		at, note := addrText(want.Addr, env)
		return "fault " + at + faultFlags(want.FaultWrite, want.FaultWP, want.FaultMinor) + note
	case scenario.OutOops:
		return "oops"
	case scenario.OutLivelock:
		return "livelock"
	case scenario.OutCount:
		return fmt.Sprint(want.Count)
	case scenario.OutFaults:
		return want.FaultCounts()
	}
	return "?"
}

// addrText writes an address expression, and, as a comment to follow the
// outcome, the address it denotes or why it denotes none.
func addrText(a scenario.Addr, env Env) (string, string) {
	v, err := env.Resolve(a)
	name := exprText(a)
	if a.Name == "" {
		return name, ""
	}
	var ae *AddrError
	switch {
	case errors.As(err, &ae) && ae.Unbound:
		return name, "  # " + a.Name + " is not bound"
	case err != nil:
		return name, "  # wraps around"
	}
	return name, fmt.Sprintf("  # %#x", v)
}

// exprText writes an address expression with its offset in hex.
func exprText(a scenario.Addr) string {
	name := a.Name
	switch {
	case name == "":
		return fmt.Sprintf("%#x", a.Offset)
	case a.Offset == 0:
	case int64(a.Offset) < 0:
		name += fmt.Sprintf("-%#x", -a.Offset)
	default:
		name += fmt.Sprintf("+%#x", a.Offset)
	}
	return name
}

// AddrError is why an address expression denotes no address.
type AddrError struct {
	Addr    scenario.Addr
	Unbound bool   // its region is not bound; else the offset wraps
	Start   uint64 // the region's start, when bound
}

// Error writes the position and the reason.
func (e *AddrError) Error() string { return e.Addr.Pos.String() + ": " + reason(e) }

// reason is err without its position.
func reason(err error) string {
	var e *AddrError
	if !errors.As(err, &e) {
		return err.Error()
	}
	if e.Unbound {
		return fmt.Sprintf("region %s is not bound: its mmap did not succeed", e.Addr.Name)
	}
	end := "below 0"
	if int64(e.Addr.Offset) >= 0 {
		end = "past 0xffffffffffffffff"
	}
	return fmt.Sprintf("address %s wraps around: region %s starts at %#x, and the offset takes it %s", exprText(e.Addr), e.Addr.Name, e.Start, end)
}

func faultFlags(write, wp, minor bool) string {
	var b strings.Builder
	if write {
		b.WriteString(" write")
	}
	if wp {
		b.WriteString(" wp")
	}
	if minor {
		b.WriteString(" minor")
	}
	return b.String()
}

// Observed prints an observation as the language writes it, valid as
// the outcome of a statement: an address near a region relative to it
// (Name), followed by the number as a comment ("@A+16  # 0x7f...").
func Observed(obs Observation, env Env) string {
	at := func(a uint64) (string, string) {
		name := Name(a, env)
		if strings.HasPrefix(name, "0x") {
			return name, ""
		}
		return name, fmt.Sprintf("  # %#x", a)
	}
	switch obs.Kind {
	case scenario.OutOK:
		if obs.HasValue {
			return fmt.Sprintf("ok %#x", obs.Value)
		}
		return "ok"
	case scenario.OutSignal:
		a, note := at(obs.Addr)
		s := fmt.Sprintf("%s %s @%s", obs.Signal, abi.CodeName(obs.Signal, obs.Code), a)
		if obs.Signal == abi.SIGBUS {
			s += fmt.Sprintf(" lsb=%d", obs.LSB)
		}
		return s + note
	case scenario.OutErrno:
		return obs.Errno.String()
	case scenario.OutKilled:
		return "killed " + obs.Signal.String()
	case scenario.OutBlocked:
		return "blocked"
	case scenario.OutFault:
		a, note := at(obs.Addr)
		return "fault " + a + faultFlags(obs.Write, obs.WP, obs.Minor) + note
	case scenario.OutOops:
		return "oops"
	case scenario.OutLivelock:
		return "livelock"
	case scenario.OutCount:
		return fmt.Sprint(obs.Value)
	case scenario.OutFaults:
		return fmt.Sprintf("minflt=%d majflt=%d", obs.Minflt, obs.Majflt)
	}
	return "?"
}

// Symbolic prints an observation like Observed, but with addresses only
// relative to regions (NAME+off), never absolute unless no region is near:
// the form in which a host run and a model run, whose regions lie at
// different addresses, can be compared.
func Symbolic(obs Observation, env Env) string {
	sym := func(a uint64) string {
		s := env.Symbolize(a)
		if i := strings.Index(s, " ("); i >= 0 {
			return s[:i]
		}
		return s
	}
	switch obs.Kind {
	case scenario.OutSignal:
		s := fmt.Sprintf("%s %s @%s", obs.Signal, abi.CodeName(obs.Signal, obs.Code), sym(obs.Addr))
		if obs.Signal == abi.SIGBUS {
			s += fmt.Sprintf(" lsb=%d", obs.LSB)
		}
		return s
	case scenario.OutFault:
		return "fault " + sym(obs.Addr) + faultFlags(obs.Write, obs.WP, obs.Minor)
	case scenario.OutOK, scenario.OutErrno, scenario.OutKilled, scenario.OutBlocked, scenario.OutOops, scenario.OutLivelock, scenario.OutCount, scenario.OutFaults:
		return Observed(obs, env) // no address
	}
	return "?"
}

// Region is a bound region name.
type Region struct {
	Name       string
	Start, Len uint64
}

// Regions is a set of bound regions; it implements Env's address parts.
type Regions struct {
	byName map[string]Region
	Ret    byte
}

// NewRegions returns an empty set for an architecture whose ret is ret.
func NewRegions(ret byte) *Regions { return &Regions{byName: map[string]Region{}, Ret: ret} }

// Bind binds name to [start, start+n).
func (r *Regions) Bind(name string, start, n uint64) {
	r.byName[name] = Region{Name: name, Start: start, Len: n}
}

// Lookup returns the region bound to name.
func (r *Regions) Lookup(name string) (Region, bool) {
	g, ok := r.byName[name]
	return g, ok
}

// Resolve implements Env. The parser keeps a region's offset within 64
// signed bits (scenario.Addr); where the region lies is known only now,
// so here an address that would wrap around is refused, as the parser
// refuses an absolute one.
func (r *Regions) Resolve(a scenario.Addr) (uint64, error) {
	if a.Name == "" {
		return a.Offset, nil
	}
	g, ok := r.byName[a.Name]
	if !ok {
		return 0, &AddrError{Addr: a, Unbound: true}
	}
	v := g.Start + a.Offset
	if off := int64(a.Offset); off >= 0 && v < g.Start || off < 0 && v > g.Start {
		return 0, &AddrError{Addr: a, Start: g.Start}
	}
	return v, nil
}

// RetByte implements Env.
func (r *Regions) RetByte() byte { return r.Ret }

// Symbolize implements Env: NAME+off or NAME-off relative to the region
// whose start is nearest (a region containing addr wins), within 16 MiB,
// followed by the absolute address; else the number alone.
func (r *Regions) Symbolize(addr uint64) string {
	near := r.Near(addr)
	if len(near) == 0 {
		return fmt.Sprintf("%#x", addr)
	}
	best := near[0]
	switch {
	case addr == best.Start:
		return fmt.Sprintf("%s (%#x)", best.Name, addr)
	case addr > best.Start:
		return fmt.Sprintf("%s+%#x (%#x)", best.Name, addr-best.Start, addr)
	}
	return fmt.Sprintf("%s-%#x (%#x)", best.Name, best.Start-addr, addr)
}

// Near lists the regions that hold addr, by name, or else the one whose
// start is nearest within 16 MiB (ties go to the first name, whatever
// the map order), or none: the regions an address is best written
// relative to.
func (r *Regions) Near(addr uint64) []Region {
	const near = 16 << 20
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var holding []Region
	var best Region
	var bestDist uint64
	found := false
	for _, n := range names {
		g := r.byName[n]
		var dist uint64
		switch {
		case addr >= g.Start && addr-g.Start < g.Len:
			holding = append(holding, g)
			continue
		case addr >= g.Start:
			dist = addr - g.Start
		default:
			dist = g.Start - addr
		}
		if dist <= near && (!found || dist < bestDist) {
			best, bestDist, found = g, dist, true
		}
	}
	if len(holding) > 0 || !found {
		return holding
	}
	return []Region{best}
}
