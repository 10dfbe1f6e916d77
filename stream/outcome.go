package stream

import (
	"github.com/faultline/faultline/config"
	"regexp"
	"strconv"
	"strings"
)

// Outcome kinds, as the language names them (docs/json.md).
const (
	KindOK       = "ok"       // ok [VALUE]
	KindSignal   = "signal"   // SIGNAME CODE @ADDR [lsb=N]
	KindErrno    = "errno"    // ERRNO
	KindKilled   = "killed"   // killed SIGNAME
	KindBlocked  = "blocked"  // blocked
	KindFault    = "fault"    // fault @ADDR [write] [wp] [minor]
	KindOops     = "oops"     // oops (model only)
	KindLivelock = "livelock" // livelock (model only)
	KindCount    = "count"    // N, the outcome of caught
	KindFaults   = "faults"   // minflt=N majflt=N
	KindNotRun   = "not_run"  // the statement did not run (its actor or an operand was missing)
	KindNone     = "none"     // no outcome: the side that would have one did not run
	KindUnknown  = "unknown"  // text this reader does not know; Text has it
)

// Outcome is an expected or observed outcome as fields. Text is always
// the outcome as the language writes it (as the text output prints it);
// the other fields are those its kind has.
type Outcome struct {
	Text string `json:"text"`
	Kind string `json:"kind"`
	// Value is ok's value (a byte, a count) or count's count.
	Value *uint64 `json:"value,omitempty"`
	// Ret: ok's value was written ret (the architecture's return byte).
	Ret bool `json:"ret,omitempty"`
	// Signal is the signal's name (signal, killed).
	Signal string `json:"signal,omitempty"`
	// Code is the si_code's name (signal).
	Code string `json:"code,omitempty"`
	// Address is si_addr (signal) or the faulting address (fault).
	Address *Address `json:"address,omitempty"`
	// LSB is si_addr_lsb, where the outcome states it.
	LSB   *int   `json:"lsb,omitempty"`
	Errno string `json:"errno,omitempty"`
	// Write, WP and Minor are a uffd fault event's flags.
	Write bool `json:"write,omitempty"`
	WP    bool `json:"wp,omitempty"`
	Minor bool `json:"minor,omitempty"`
	// Minflt and Majflt are the fault counts given (faults).
	Minflt *uint64 `json:"minflt,omitempty"`
	Majflt *uint64 `json:"majflt,omitempty"`
	// Note is what the text says besides: why a statement did not run,
	// that an implicit expectation only requires success.
	Note string `json:"note,omitempty"`
}

// Address is an address as an outcome writes it: relative to a region
// (Region+Offset) or absolute, with its absolute value where the text
// gives it.
type Address struct {
	// Expr is the expression as written: NAME, NAME+0xOFF, NAME-0xOFF or 0xADDR.
	Expr   string `json:"expr"`
	Region string `json:"region,omitempty"`
	Offset int64  `json:"offset"`
	// Value is the absolute address in hex, where it is known (an
	// absolute expression, or a resolved region's address): a string,
	// since addresses do not fit a JSON number exactly.
	Value string `json:"value,omitempty"`
	// Unbound: the region was not bound (its mmap failed), so the
	// expression denotes no address.
	Unbound bool `json:"unbound,omitempty"`
}

var (
	reSignal = regexp.MustCompile(`^(SIG[A-Z0-9]+) ([A-Z_0-9]+|-?[0-9]+) @(\S+)(?: lsb=([0-9]+))?$`)
	reFault  = regexp.MustCompile(`^fault @?(\S+)((?: (?:write|wp|minor))*)$`)
	reOKRet  = regexp.MustCompile(`^ok ret$`)
	reErrno  = regexp.MustCompile(`^E[A-Z0-9]+$`)
	reName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

// ParseOutcome reads an outcome as faultline prints it (check.Expected,
// check.Observed, check.Symbolic, and the runners' "not run" forms) into
// fields. Text it does not know is KindUnknown, never an error: the text
// output is the reference, and it stays in Text.
func ParseOutcome(text string) Outcome {
	o := Outcome{Text: text, Kind: KindUnknown}
	// What the printers add as a comment ("@A  # 0x7f...", "ok ret  #
	// 0xc3", "ok  # no expectation: must not fail"): the outcome is the
	// text before it, valid scenario syntax.
	text, comment, _ := strings.Cut(text, "  # ")
	paren := comment // an address's value, "unbound" or "wraps around"
	if strings.HasSuffix(comment, " is not bound") {
		paren = "unbound"
	}
	num := func(s string) *uint64 {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return nil
		}
		return &v
	}
	switch {
	case text == "" || text == "-":
		o.Kind = KindNone
	case text == "not run" || text == "(not run)":
		o.Kind = KindNotRun
	case strings.HasPrefix(text, "not run: "):
		o.Kind, o.Note = KindNotRun, strings.TrimPrefix(text, "not run: ")
	case text == "ok":
		o.Kind, o.Note = KindOK, comment
	case reOKRet.MatchString(text):
		o.Kind, o.Ret, o.Value = KindOK, true, num(comment)
	case strings.HasPrefix(text, "ok "):
		if v := num(text[3:]); v != nil {
			o.Kind, o.Value = KindOK, v
		}
	case text == "blocked":
		o.Kind = KindBlocked
	case text == "oops":
		o.Kind = KindOops
	case text == "livelock":
		o.Kind = KindLivelock
	case strings.HasPrefix(text, "killed SIG") && !strings.Contains(text[7:], " "):
		o.Kind, o.Signal = KindKilled, text[7:]
	case reErrno.MatchString(text):
		o.Kind, o.Errno = KindErrno, text
	case reSignal.MatchString(text):
		m := reSignal.FindStringSubmatch(text)
		a, ok := parseAddress(m[3], paren)
		if !ok {
			break
		}
		o.Kind, o.Signal, o.Code, o.Address = KindSignal, m[1], m[2], a
		if m[4] != "" {
			n, err := strconv.Atoi(m[4])
			if err == nil {
				o.LSB = &n
			}
		}
	case reFault.MatchString(text):
		m := reFault.FindStringSubmatch(text)
		a, ok := parseAddress(m[1], paren)
		if !ok {
			break
		}
		o.Kind, o.Address = KindFault, a
		for _, f := range strings.Fields(m[2]) {
			switch f {
			case "write":
				o.Write = true
			case "wp":
				o.WP = true
			case "minor":
				o.Minor = true
			}
		}
	case strings.HasPrefix(text, "minflt=") || strings.HasPrefix(text, "majflt="):
		ok := true
		for _, f := range strings.Fields(text) {
			k, v, _ := strings.Cut(f, "=")
			n := num(v)
			switch {
			case n == nil:
				ok = false
			case k == "minflt" && o.Minflt == nil:
				o.Minflt = n
			case k == "majflt" && o.Majflt == nil:
				o.Majflt = n
			default:
				ok = false
			}
		}
		if ok {
			o.Kind = KindFaults
		} else {
			o.Minflt, o.Majflt = nil, nil
		}
	default:
		if v, err := strconv.ParseUint(text, 10, 64); err == nil {
			o.Kind, o.Value = KindCount, &v
		}
	}
	return o
}

// parseAddress reads an address expression and what follows it in
// parentheses: the absolute value, "unbound" or "wraps around".
func parseAddress(expr, paren string) (*Address, bool) {
	a := &Address{Expr: expr}
	if strings.HasPrefix(expr, "0x") {
		v, err := strconv.ParseUint(expr, 0, 64)
		if err != nil || paren != "" {
			return nil, false
		}
		a.Value = "0x" + strconv.FormatUint(v, 16)
		return a, true
	}
	// NAME, then any number of +SIZE and -SIZE terms, as the language
	// writes them (A+16, A-1p, A+1p+0x10).
	i := strings.IndexAny(expr, "+-")
	if i < 0 {
		i = len(expr)
	}
	if !reName.MatchString(expr[:i]) {
		return nil, false
	}
	a.Region = expr[:i]
	for rest := expr[i:]; rest != ""; {
		neg := rest[0] == '-'
		rest = rest[1:]
		j := strings.IndexAny(rest, "+-")
		if j < 0 {
			j = len(rest)
		}
		n, err := config.ParseSize(rest[:j])
		if err != nil || n > 1<<62 {
			return nil, false
		}
		if neg {
			a.Offset -= int64(n)
		} else {
			a.Offset += int64(n)
		}
		if a.Offset > 1<<62 || a.Offset < -(1<<62) {
			return nil, false
		}
		rest = rest[j:]
	}
	if a.Offset != 0 {
		sign, off := "+", a.Offset
		if off < 0 {
			sign, off = "-", -off
		}
		a.Expr = a.Region + sign + "0x" + strconv.FormatInt(off, 16)
	} else {
		a.Expr = a.Region
	}
	switch paren {
	case "":
	case "unbound":
		a.Unbound = true
	case "wraps around":
	default:
		a.Value = paren
	}
	return a, true
}

// Position is a place in a scenario file.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

var rePos = regexp.MustCompile(`^(.+):([0-9]+):([0-9]+)$`)

// ParsePosition reads FILE:LINE:COLUMN as scenario.Pos prints it.
func ParsePosition(s string) (Position, bool) {
	m := rePos.FindStringSubmatch(s)
	if m == nil {
		return Position{}, false
	}
	line, err1 := strconv.Atoi(m[2])
	col, err2 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil {
		return Position{}, false
	}
	return Position{File: m[1], Line: line, Column: col}, true
}

var (
	rePosErr = regexp.MustCompile(`^(.+?):([0-9]+):([0-9]+): (.*)$`)
	reOSErr  = regexp.MustCompile(`^(?:open|stat|lstat|read) (\S+): (.*)$`)
	rePathEr = regexp.MustCompile(`^(\S+): (.*)$`)
)

// ParseFileError reads one line of a file error as the commands print
// it: FILE:LINE:COLUMN: MESSAGE for an error in a scenario, else an
// error of the file system naming the path. Fields it cannot find stay
// zero; Text keeps the line.
func ParseFileError(text string) Error {
	e := Error{Type: TypeError, Text: text, Message: text}
	if m := rePosErr.FindStringSubmatch(text); m != nil {
		line, err1 := strconv.Atoi(m[2])
		col, err2 := strconv.Atoi(m[3])
		if err1 == nil && err2 == nil {
			e.File, e.Line, e.Column, e.Message = m[1], line, col, m[4]
			return e
		}
	}
	if m := reOSErr.FindStringSubmatch(text); m != nil {
		e.File, e.Message = m[1], m[2]
		return e
	}
	if m := rePathEr.FindStringSubmatch(text); m != nil {
		e.File, e.Message = m[1], m[2]
	}
	return e
}
