package scenario

import (
	"fmt"
	"math/big"
	"math/bits"
	"slices"
	"strings"

	"github.com/faultline/faultline/abi"
	"github.com/faultline/faultline/config"
)

// KnownArches lists the architecture names the language accepts.
var KnownArches = []string{"x86_64", "arm64", "riscv64", "ppc64le", "s390x", "loongarch64"}

// KnownNeeds lists the host features `needs` accepts.
var KnownNeeds = []string{"uffd", "uffd-poison", "uffd-wp", "hugetlb", "memcg", "memcg-v1", "lru", "guard"}

// Error is one problem in a scenario file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in a file, in file order; it is an error.
type ErrorList []*Error

// Error returns all errors, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual *Error values.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// maxErrors is where Parse gives up: past it, errors are usually knock-on
// effects of the first ones and only bury them.
const maxErrors = 20

// Descriptions of operands, shared by the messages "expected X, found Y".
const (
	wantSize    = "a size (like 4096, 0x1000 or 3p)"
	wantNumber  = "a number (like 42 or 0x2a)"
	wantAddr    = "an address (NAME, NAME+SIZE, NAME-SIZE or a number)"
	wantByte    = "a byte value (0 to 255, or ret)"
	wantProt    = "a protection (none, or letters of rwx in that order: r, w, x, rw, rx, wx, rwx)"
	wantSignal  = "a signal name (like SIGSEGV)"
	wantOutcome = "an outcome (ok, ok VALUE, SIGNAME CODE @ADDR, ERRNO, killed SIGNAME, blocked, fault ADDR, oops or livelock)"
	nameRule    = "a letter or _, then letters, digits or _"
)

// keywordList is shown with an unknown statement keyword.
const keywordList = "mmap, munmap, mprotect, madvise, file, truncate, rlimit, memlimit, hugepages, " +
	"read, write, exec, touch, kread, kwrite, kderef, thread, fork, sigaction, kill, caught, wait, uffd, " +
	"faults, evict, io, " +
	"scenario, about, arch, needs, config"

// Parse parses one scenario file. file names it in positions. On any error
// it returns nil and an ErrorList.
//
// Beyond docs/scenario-format.md, Parse accepts (extensions) or decides:
//   - an address takes any number of +SIZE/-SIZE terms (the spec's own
//     example writes LOW+1p+16), summed exactly: an absolute address must
//     stay within 64 bits, a region's offset within 64 signed bits;
//   - the limits of limits.go;
//   - the kderef statement (see KDeref);
//   - mmap flags, uffd register modes and sigbus, and fault outcome flags
//     in any order;
//   - # inside the double-quoted text of about is text, not a comment;
//   - a name an mmap binds is visible from the next line on, so at= and
//     the expectation of that mmap see the earlier binding;
//   - a fault outcome's address must be a multiple of 4096 from its base
//     (the spec says fault events are page-aligned);
//   - lsb=N takes 0 to 63;
//   - a caught statement's overrides are counts, like its expectation;
//   - a background statement never waited for is not an error.
func Parse(file string, src []byte) (*Scenario, error) {
	return ParsePageSize(file, src, DefaultPageSize)
}

// DefaultPageSize is the base page Parse reads the unit pg as: 4 KiB.
const DefaultPageSize = 4096

// ParsePageSize is Parse with the unit pg read as pageSize bytes, the
// base page of the machine the scenario is to run on. A scenario that
// uses pg keeps its source (Scenario.Src) to be read again for another
// page size (Scenario.ForPageSize).
func ParsePageSize(file string, src []byte, pageSize uint64) (*Scenario, error) {
	p := &parser{
		file:       file,
		pageSize:   pageSize,
		sc:         &Scenario{},
		headerLine: map[string]int{},
		regions:    map[string]bool{},
		files:      map[string]bool{},
		uffds:      map[string]bool{},
		actors:     map[string]bool{"main": true},
		pending:    map[string]int{},
		mayWait:    map[string]bool{},
	}
	if len(src) > MaxFileSize {
		// The loader reads at most one byte more than the limit: src may
		// be cut, so nothing in it is worth reporting but its size.
		return nil, ErrorList{{Pos{file, 1, 1}, fmt.Sprintf("expected a scenario file of at most %s, found one of %s or more", sizeText(MaxFileSize), sizeText(uint64(len(src))))}}
	}
	text := strings.TrimPrefix(string(src), "\ufeff") // a byte order mark is no statement
	p.lines = strings.Count(text, "\n") + 1
	num := 0
	for start := 0; start < len(text) && len(p.errs) < maxErrors && !p.full; {
		num++
		var line string
		if end := strings.IndexByte(text[start:], '\n'); end >= 0 {
			line = strings.TrimSuffix(text[start:start+end], "\r")
			start += end + 1
		} else {
			line, start = text[start:], len(text)
		}
		if len(line) > MaxLineLen {
			p.errs = append(p.errs, p.errf(num, MaxLineLen+1, "expected a line of at most %d bytes, found one of %d bytes", MaxLineLen, len(line)))
			continue
		}
		ln, lexErr := lexLine(file, num, line, p.toks)
		p.toks = ln.toks
		err := p.line(ln)
		if lexErr != nil {
			err = lexErr
		}
		if err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if !p.started && len(p.errs) < maxErrors && (len(p.errs) == 0 || p.errs[0].Pos.Line > 1) {
		// Nothing to point at but the start of the file, which comes
		// before every other error.
		err := &Error{Pos{file, 1, 1}, `missing scenario statement: expected "scenario NAME" as the first statement`}
		p.errs = append(ErrorList{err}, p.errs...)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	p.sc.Lines = num
	if err := p.checkPageSize(); err != nil {
		return nil, ErrorList{err}
	}
	if p.usesPG {
		p.sc.pages = &pageUnit{size: p.pageSize, src: src}
	}
	return p.sc, nil
}

// checkPageSize refuses a page_size pin that an arch the scenario names
// does not have (config.PageSizes), at the pin's value; a scenario for
// every arch is refused on the arches without it when it runs.
func (p *parser) checkPageSize() *Error {
	for _, pin := range p.sc.Config {
		if pin.Key != "page_size" {
			continue
		}
		k := config.Default()
		if err := k.Set(pin.Key, pin.Value); err != nil {
			return nil // reported where the pin was read
		}
		for _, arch := range p.sc.Arches {
			if _, err := k.ResolvePageSize(arch); err != nil {
				return &Error{Pos{p.file, pin.Pos.Line, pin.Pos.Col + len(pin.Key) + 1}, err.Error()}
			}
		}
	}
	return nil
}

// ForPageSize returns s as it reads with the unit pg pageSize bytes: s
// itself when it does not use pg or already reads so.
func (s *Scenario) ForPageSize(pageSize uint64) (*Scenario, error) {
	if s.pages == nil || s.pages.size == pageSize {
		return s, nil
	}
	return ParsePageSize(s.Pos.File, s.pages.src, pageSize)
}

// parser is the state of one Parse call.
type parser struct {
	file     string
	pageSize uint64 // the bytes of the unit pg
	usesPG   bool   // a size was written in pg
	sc       *Scenario
	errs     ErrorList

	// started is set by the first statement. If that is not scenario,
	// the error says so once, and a scenario statement further down is
	// accepted rather than reported a second time for its place.
	started    bool
	headerLine map[string]int // header keyword -> its line

	// Names defined so far.
	regions map[string]bool
	files   map[string]bool
	uffds   map[string]bool
	actors  map[string]bool
	// pending maps an actor to the line of its background statement that
	// no wait has collected yet.
	pending map[string]int
	// mayWait holds the actors a later wait may name although none of
	// their statements is known to be pending: a wait found it
	// livelocked, or unfinished on some arch or handler only.
	mayWait map[string]bool

	fx     effects // of the statement being parsed
	filled uint64  // filled sizes so far, toward MaxTotalFill
	toks   []token // the words of the line being parsed (lexLine's buffer)
	// Statements and outcomes are made from slabs of them: a large file
	// makes thousands.
	stmtSlab []Stmt
	outSlab  []Outcome
	lines    int // in the file: the most statements it can hold

	// full is set once the body has MaxStatements statements and one
	// more came: the rest of the file is not read.
	full bool
}

// effects is what a statement declares. It is applied once the statement
// is parsed, even when it had an error: a later line that uses a name the
// erroneous line meant to define should not report a second, knock-on
// error. It is also applied after the whole line so that the line itself
// still sees the old bindings (mmap X ... at=X+1p means the earlier X).
type effects struct {
	line       int
	region     string // mmap binds it
	file       string // file defines it
	uffd       string // uffd ... register creates it
	actor      string // thread/fork creates it
	wait       string // wait collects its pending statement
	background string // the actor left with a pending statement
}

func (p *parser) apply() {
	fx := p.fx
	if fx.region != "" {
		p.regions[fx.region] = true
	}
	if fx.file != "" {
		p.files[fx.file] = true
	}
	if fx.uffd != "" {
		p.uffds[fx.uffd] = true
	}
	if fx.actor != "" {
		p.actors[fx.actor] = true
	}
	if fx.wait != "" {
		delete(p.pending, fx.wait)
	}
	if fx.background != "" {
		p.pending[fx.background] = fx.line
	}
	p.fx = effects{}
}

func (p *parser) pos(line, col int) Pos { return Pos{p.file, line, col} }

const slabSize = 64

// newStmt returns a zero statement from the slab.
func (p *parser) newStmt() *Stmt {
	if len(p.stmtSlab) == 0 {
		p.stmtSlab = make([]Stmt, slabSize)
	}
	st := &p.stmtSlab[0]
	p.stmtSlab = p.stmtSlab[1:]
	return st
}

// newOutcome returns a zero outcome from the slab.
func (p *parser) newOutcome() *Outcome {
	if len(p.outSlab) == 0 {
		p.outSlab = make([]Outcome, slabSize)
	}
	o := &p.outSlab[0]
	p.outSlab = p.outSlab[1:]
	return o
}

func (p *parser) errf(line, col int, format string, args ...any) *Error {
	return &Error{p.pos(line, col), fmt.Sprintf(format, args...)}
}

// line parses one line and returns its error, if any.
func (p *parser) line(ln srcLine) *Error {
	if len(ln.toks) == 0 {
		return nil
	}
	if !p.started {
		p.started = true
		if t := ln.toks[0]; t.quoted || t.text != "scenario" {
			// Parse it anyway for the names it defines; its own errors
			// would come second to this one.
			p.stmt(ln)
			return p.errf(ln.num, t.col, `expected "scenario NAME" as the first statement, found %s`, quote(t.text))
		}
	}
	return p.stmt(ln)
}

// isArrow reports whether t introduces an expectation: "=>" or "ARCH=>".
func isArrow(t token) bool { return !t.quoted && strings.HasSuffix(t.text, "=>") }

func isHeader(kw string) bool {
	switch kw {
	case "scenario", "about", "arch", "needs", "config":
		return true
	}
	return false
}

// stmt parses the words of one line: [ACTOR:] KEYWORD OPERAND... [&]
// [=> OUTCOME] [ARCH=> OUTCOME]...
func (p *parser) stmt(ln srcLine) *Error {
	p.fx = effects{line: ln.num}
	defer p.apply()

	toks := ln.toks
	st := p.newStmt() // zero: set field by field, no struct copy
	st.Pos, st.Text, st.Actor = p.pos(ln.num, toks[0].col), ln.text, "main"
	var prefix, amp *token
	if t := toks[0]; !t.quoted && strings.HasSuffix(t.text, ":") {
		prefix = &toks[0]
		toks = toks[1:]
	}
	if n := len(toks); n > 0 && !toks[n-1].quoted && toks[n-1].text == "&" {
		amp = &toks[n-1]
		toks = toks[:n-1]
		st.Background = true
	}

	// The operation ends where the first expectation begins.
	k := len(toks)
	for i, t := range toks {
		if t.quoted {
			continue
		}
		if j := strings.Index(t.text, "=>"); j >= 0 && j+2 < len(t.text) {
			return p.errf(ln.num, t.col+j+2, `expected a space after "=>", found %s`, quote(t.text))
		}
		if isArrow(t) && k == len(toks) {
			k = i
		}
	}
	if k == 0 {
		col, found := ln.toks[len(ln.toks)-1].end(), "end of line"
		switch {
		case len(toks) > 0:
			col, found = toks[0].col, quote(toks[0].text)
		case amp != nil:
			col, found = amp.col, `"&"`
		}
		if prefix != nil {
			return p.errf(ln.num, col, "expected a statement after %s, found %s", quote(prefix.text), found)
		}
		return p.errf(ln.num, col, "expected a statement, found %s", found)
	}
	kw, ops, exps := toks[0], toks[1:k], toks[k:]

	if !kw.quoted && isHeader(kw.text) {
		// Recorded before any other check so that a header line with an
		// error does not make its later fix look like a duplicate.
		if first, dup := p.headerLine[kw.text]; dup {
			return p.errf(ln.num, kw.col, "duplicate %s statement (the first is on line %d)", kw.text, first)
		}
		p.headerLine[kw.text] = ln.num
		switch {
		case prefix != nil:
			return p.errf(ln.num, prefix.col, "%s is a header statement: it takes no actor prefix", kw.text)
		case len(exps) > 0:
			return p.errf(ln.num, exps[0].col, "%s is a header statement: it takes no expectation", kw.text)
		case amp != nil:
			return p.errf(ln.num, amp.col, "%s is a header statement: it cannot run in the background", kw.text)
		}
		c := &cursor{p: p, line: ln.num, toks: ops, stop: "end of line", stopCol: toks[len(toks)-1].end()}
		return p.header(ln.num, kw, c)
	}

	if prefix != nil {
		name := strings.TrimSuffix(prefix.text, ":")
		if !validName(name) {
			return p.errf(ln.num, prefix.col, "expected an actor name (%s) before \":\", found %s", nameRule, quote(name))
		}
		if !p.actors[name] {
			return p.errf(ln.num, prefix.col, "%s", unknownActor(name))
		}
		st.Actor = name
	}
	if line, busy := p.pending[st.Actor]; busy {
		return p.errf(ln.num, st.Pos.Col,
			"actor %s still has a background statement pending (line %d): it can run nothing else until another actor runs \"wait %s\" (as in \"T: wait %s\")",
			st.Actor, line, st.Actor, st.Actor)
	}
	if amp != nil {
		if kw.text == "wait" {
			return p.errf(ln.num, amp.col, "wait cannot run in the background")
		}
		// Recorded before the checks below so that a later "wait" does
		// not report a second error for this line.
		p.fx.background = st.Actor
		if len(exps) > 0 {
			return p.errf(ln.num, exps[0].col,
				"a background statement cannot carry an expectation: check its outcome with \"wait %s => OUTCOME\"", st.Actor)
		}
	}

	if n := len(ops); n > 0 && len(exps) > 0 && !ops[n-1].quoted && ops[n-1].text == "&" {
		// "T: STATEMENT & => OUTCOME": the same mistake, written the other way.
		if kw.text != "wait" {
			p.fx.background = st.Actor
		}
		return p.errf(ln.num, exps[0].col,
			"a background statement cannot carry an expectation: check its outcome with \"wait %s => OUTCOME\"", st.Actor)
	}

	c := &cursor{p: p, line: ln.num, toks: ops}
	switch {
	case len(exps) > 0:
		c.stop, c.stopWord, c.stopCol = exps[0].text, true, exps[0].col
	case amp != nil:
		c.stop, c.stopCol = `"&"`, amp.col
	default:
		c.stop, c.stopCol = "end of line", toks[len(toks)-1].end()
	}
	op, err := p.op(c, kw)
	if err != nil {
		return err
	}
	st.Op = op
	_, caught := op.(*Caught)
	if err := p.expectations(st, ln.num, exps, op); err != nil {
		return err
	}
	if _, isFaults := op.(*Faults); isFaults && amp != nil {
		return p.errf(ln.num, amp.col, "faults cannot run in the background")
	}
	if w, isWait := op.(*Wait); isWait {
		switch unfinishedWait(st) {
		case allBlocked:
			// "wait T => blocked" checks that the statement has not
			// finished: it stays pending, for a later wait to collect.
			p.fx.wait = ""
		case someUnfinished:
			// Livelock, or blocked on some arch or handler only
			// ("wait T => killed SIGKILL   riscv64=> livelock"): the
			// statement may still be in flight. T may run statements
			// (a livelocked actor runs nothing: they report livelock),
			// and a later wait may follow, collecting T's end.
			p.mayWait[w.Target] = true
		}
	}
	if caught && st.Expect == nil {
		return p.errf(ln.num, c.stopCol, "expected \"=> N\" (the number of times the handler ran), found %s", c.stopText())
	}
	if len(p.sc.Body) == MaxStatements {
		p.full = true
		return p.errf(ln.num, st.Pos.Col, "expected at most %d statements, found more: this is statement %d (the rest of the file is not read)", MaxStatements, MaxStatements+1)
	}
	if p.sc.Body == nil {
		p.sc.Body = make([]*Stmt, 0, min(p.lines, MaxStatements))
	}
	p.sc.Body = append(p.sc.Body, st)
	return nil
}

// What a wait expects of its statement's end, for the tracking of
// pending statements.
const (
	finished       = iota // on every arch and handler: it collects the statement
	allBlocked            // blocked everywhere: the statement stays pending
	someUnfinished        // livelock, or unfinished somewhere only: it may stay in flight
)

// unfinishedWait classifies a wait's expectations.
func unfinishedWait(st *Stmt) int {
	outs := []*Outcome{st.Expect}
	for _, o := range st.Overrides {
		outs = append(outs, o)
	}
	blocked, unfinished := 0, 0
	for _, o := range outs {
		switch {
		case o == nil:
		case o.Kind == OutBlocked:
			blocked++
			unfinished++
		case o.Kind == OutLivelock:
			unfinished++
		}
	}
	switch {
	case blocked == len(outs):
		return allBlocked
	case unfinished > 0:
		return someUnfinished
	}
	return finished
}

func unknownActor(name string) string {
	return fmt.Sprintf("unknown actor %q (create it first with \"thread %s\" or \"fork %s\")", name, name, name)
}

// cursor walks the operand words of a statement or an outcome.
type cursor struct {
	p    *parser
	line int
	toks []token
	i    int
	// stop is what follows the words, for "found ..." in messages:
	// "end of line", or a word (quoted when stopWord is set, only when a
	// message needs it); stopCol is its column.
	stop     string
	stopWord bool
	stopCol  int
}

// stopText is what follows the words, as messages show it.
func (c *cursor) stopText() string {
	if c.stopWord {
		return quote(c.stop)
	}
	return c.stop
}

func (c *cursor) more() bool { return c.i < len(c.toks) }

func (c *cursor) errf(col int, format string, args ...any) *Error {
	return c.p.errf(c.line, col, format, args...)
}

// errAt reports a bad word: expected want, found t.
func (c *cursor) errAt(t token, want string) *Error {
	return c.errf(t.col, "expected %s, found %s", want, quote(t.text))
}

// errEnd reports a missing word.
func (c *cursor) errEnd(want string) *Error {
	return c.errf(c.stopCol, "expected %s, found %s", want, c.stopText())
}

// next returns the next word; want describes it for the error when there
// is none.
func (c *cursor) next(want string) (token, *Error) {
	if c.i >= len(c.toks) {
		return token{}, c.errEnd(want)
	}
	t := c.toks[c.i]
	c.i++
	return t, nil
}

// peek returns the next word without taking it.
func (c *cursor) peek() (token, bool) {
	if c.i >= len(c.toks) {
		return token{}, false
	}
	return c.toks[c.i], true
}

// done reports words left over; syntax is the statement's form, to show.
func (c *cursor) done(syntax string) *Error {
	if t, ok := c.peek(); ok {
		return c.errf(t.col, "expected end of statement, found %s (the form is %q)", quote(t.text), syntax)
	}
	return nil
}

func (c *cursor) number(want string) (uint64, *Error) {
	t, err := c.next(want)
	if err != nil {
		return 0, err
	}
	return c.p.number(c.line, t.col, t.text, want)
}

func (c *cursor) size() (uint64, *Error) {
	t, err := c.next(wantSize)
	if err != nil {
		return 0, err
	}
	return c.p.size(c.line, t.col, t.text, wantSize)
}

// sizeMax reads a size of at most max; why says where max comes from.
func (c *cursor) sizeMax(max uint64, why string) (uint64, *Error) {
	n, t, err := c.sizeTok()
	if err != nil {
		return 0, err
	}
	return n, c.p.bounded(c.line, t.col, t.text, n, max, why)
}

// sizeTok reads a size and returns its word too, for a bound that the
// rest of the statement decides.
func (c *cursor) sizeTok() (uint64, token, *Error) {
	t, err := c.next(wantSize)
	if err != nil {
		return 0, t, err
	}
	n, err := c.p.size(c.line, t.col, t.text, wantSize)
	return n, t, err
}

func (c *cursor) addr() (Addr, *Error) {
	t, err := c.next(wantAddr)
	if err != nil {
		return Addr{}, err
	}
	return c.p.addr(c.line, t.col, t.text)
}

func (c *cursor) byteVal() (Byte, *Error) {
	t, err := c.next(wantByte)
	if err != nil {
		return Byte{}, err
	}
	return c.p.byteVal(c.line, t.col, t.text)
}

// optByte reads an optional trailing byte value.
func (c *cursor) optByte(def uint8) (Byte, *Error) {
	if !c.more() {
		return Byte{Value: def}, nil
	}
	return c.byteVal()
}

func (c *cursor) prot() (Prot, *Error) {
	t, err := c.next(wantProt)
	if err != nil {
		return Prot{}, err
	}
	pr, ok := parseProt(t.text)
	if !ok {
		return Prot{}, c.errAt(t, wantProt)
	}
	return pr, nil
}

// name reads a name of the kind what ("a region name").
func (c *cursor) name(what string) (token, *Error) {
	if !c.more() {
		return token{}, c.errEnd(what + " (" + nameRule + ")")
	}
	t, _ := c.next("")
	if t.quoted || !validName(t.text) {
		return t, c.errAt(t, what+" ("+nameRule+")")
	}
	if err := c.p.nameTooLong(c.line, t.col, what, t.text); err != nil {
		return t, err
	}
	return t, nil
}

// actor reads the name of an actor that exists.
func (c *cursor) actor() (string, *Error) {
	t, err := c.name("an actor name")
	if err != nil {
		return "", err
	}
	if !c.p.actors[t.text] {
		return "", c.errf(t.col, "%s", unknownActor(t.text))
	}
	return t.text, nil
}

func (c *cursor) signal() (abi.Signal, *Error) {
	t, err := c.next(wantSignal)
	if err != nil {
		return 0, err
	}
	return c.p.signal(c.line, t)
}

// oneOf reads a word that must be one of words.
func (c *cursor) oneOf(words ...string) (token, *Error) {
	want := orList(words)
	t, err := c.next(want)
	if err != nil {
		return t, err
	}
	if t.quoted || !slices.Contains(words, t.text) {
		return t, c.errAt(t, want)
	}
	return t, nil
}

// orList renders "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func (p *parser) signal(line int, t token) (abi.Signal, *Error) {
	sig, ok := abi.ParseSignal(t.text)
	if !ok {
		if strings.HasPrefix(t.text, "SIG") {
			return 0, p.errf(line, t.col, "unknown signal %s (expected %s)", quote(t.text), wantSignal)
		}
		return 0, p.errf(line, t.col, "expected %s, found %s", wantSignal, quote(t.text))
	}
	return sig, nil
}

// validName reports whether s is a name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validScenarioName reports whether s matches [a-z0-9][a-z0-9._-]*.
func validScenarioName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// numberSyntax reports whether s is written as a number: decimal digits,
// or 0x and hex digits. config.ParseNumber then fails only on overflow,
// which gets its own message.
func numberSyntax(s string) bool {
	digits := "0123456789"
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, digits = s[2:], "0123456789abcdefABCDEF"
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(digits, s[i]) < 0 {
			return false
		}
	}
	return true
}

// sizeSyntax reports whether s is written as a size: a number with an
// optional unit.
func sizeSyntax(s string) bool {
	if n := len(s); n > 2 && strings.HasSuffix(s, "pg") {
		return numberSyntax(s[:n-2])
	}
	if n := len(s); n > 1 && strings.IndexByte("pkMG", s[n-1]) >= 0 {
		s = s[:n-1]
	}
	return numberSyntax(s)
}

func (p *parser) number(line, col int, s, want string) (uint64, *Error) {
	if !numberSyntax(s) {
		return 0, p.errf(line, col, "expected %s, found %s", want, quote(s))
	}
	n, err := config.ParseNumber(s)
	if err != nil {
		return 0, p.errf(line, col, "expected %s, found %s, which does not fit in 64 bits", want, quote(s))
	}
	return n, nil
}

func (p *parser) size(line, col int, s, want string) (uint64, *Error) {
	if !sizeSyntax(s) {
		return 0, p.errf(line, col, "expected %s, found %s", want, quote(s))
	}
	if pages, ok := strings.CutSuffix(s, "pg"); ok {
		// pg: base pages of the machine the scenario runs on.
		n, err := config.ParseNumber(pages)
		if err != nil || n > ^uint64(0)/p.pageSize {
			return 0, p.errf(line, col, "expected %s, found %s, which does not fit in 64 bits", want, quote(s))
		}
		p.usesPG = true
		return n * p.pageSize, nil
	}
	n, err := config.ParseSize(s)
	if err != nil {
		return 0, p.errf(line, col, "expected %s, found %s, which does not fit in 64 bits", want, quote(s))
	}
	return n, nil
}

func (p *parser) byteVal(line, col int, s string) (Byte, *Error) {
	if s == "ret" {
		return Byte{Ret: true}, nil
	}
	n, err := p.number(line, col, s, wantByte)
	if err != nil {
		return Byte{}, err
	}
	if n > 255 {
		return Byte{}, p.errf(line, col, "expected %s, found %s", wantByte, quote(s))
	}
	return Byte{Value: uint8(n)}, nil
}

// addr parses an address expression: NAME or NUMBER, then any number of
// +SIZE and -SIZE terms (the spec allows one; its own example writes two).
//
// The sum is exact, never modulo 2^64: an absolute address must come out
// between 0 and 2^64-1, and a region's offset between -2^63 and 2^63-1
// (where the region lies is known only when the scenario runs, and the
// runners check there that the address does not wrap either).
func (p *parser) addr(line, col int, s string) (Addr, *Error) {
	a := Addr{Pos: p.pos(line, col)}
	var sum int128
	i := signIndex(s, 0)
	switch base := s[:i]; {
	case base != "" && '0' <= base[0] && base[0] <= '9':
		n, err := p.number(line, col, base, wantAddr)
		if err != nil {
			return a, err
		}
		sum.lo = n
	case validName(base):
		if !p.regions[base] {
			return a, p.errf(line, col, "unknown region %q (no earlier mmap binds it)", base)
		}
		a.Name = base
	default:
		return a, p.errf(line, col, "expected %s, found %s", wantAddr, quote(s))
	}
	for i < len(s) {
		sign := s[i]
		j := signIndex(s, i+1)
		term := s[i+1 : j]
		if term == "" {
			return a, p.errf(line, col+i+1, "expected %s after %q, found %s", wantSize, sign, quote(s[i+1:]))
		}
		want := wantSizeAfterPlus
		if sign == '-' {
			want = wantSizeAfterMinus
		}
		n, err := p.size(line, col+i+1, term, want)
		if err != nil {
			return a, err
		}
		if sign == '+' {
			sum.add(n)
		} else {
			sum.sub(n)
		}
		i = j
	}
	switch {
	case a.Name == "" && sum.hi != 0:
		return a, p.errf(line, col, "expected an address from 0 to 0xffffffffffffffff, found %s, which is %s: address arithmetic does not wrap around",
			quote(s), bigHex(sum.big()))
	case a.Name != "" && !sum.isInt64():
		return a, p.errf(line, col, "expected an offset from region %s between -2^63 and 2^63-1, found %s, which is %s from it: address arithmetic does not wrap around",
			a.Name, quote(s), bigHex(sum.big()))
	}
	a.Offset = sum.lo // an offset from a region: its two's complement
	return a, nil
}

// The want of a term after each sign, as fmt's %q shows the sign byte.
const (
	wantSizeAfterPlus  = wantSize + " after '+'"
	wantSizeAfterMinus = wantSize + " after '-'"
)

// signIndex returns the index of the first + or - of s from i on, or
// len(s).
func signIndex(s string, i int) int {
	for ; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' {
			return i
		}
	}
	return i
}

// int128 is the sum of an address's terms, hi*2^64 + lo: a line holds
// at most about two thousand terms of 64 bits each, far inside its range.
type int128 struct {
	hi int64
	lo uint64
}

func (v *int128) add(n uint64) {
	var c uint64
	v.lo, c = bits.Add64(v.lo, n, 0)
	v.hi += int64(c)
}

func (v *int128) sub(n uint64) {
	var b uint64
	v.lo, b = bits.Sub64(v.lo, n, 0)
	v.hi -= int64(b)
}

// isInt64 reports whether v is between -2^63 and 2^63-1.
func (v int128) isInt64() bool {
	return v.hi == 0 && v.lo < 1<<63 || v.hi == -1 && v.lo >= 1<<63
}

// big returns v as a big.Int, for a message.
func (v int128) big() *big.Int {
	n := new(big.Int).SetInt64(v.hi)
	n.Lsh(n, 64)
	return n.Add(n, new(big.Int).SetUint64(v.lo))
}

// bigHex writes n in hex, with its sign.
func bigHex(n *big.Int) string {
	if n.Sign() < 0 {
		return "-0x" + new(big.Int).Neg(n).Text(16)
	}
	return "0x" + n.Text(16)
}

// parseProt parses "none" or a non-empty subsequence of "rwx".
func parseProt(s string) (Prot, bool) {
	var pr Prot
	if s == "none" {
		return pr, true
	}
	if s == "" {
		return pr, false
	}
	rest := s
	if strings.HasPrefix(rest, "r") {
		pr.Read, rest = true, rest[1:]
	}
	if strings.HasPrefix(rest, "w") {
		pr.Write, rest = true, rest[1:]
	}
	if strings.HasPrefix(rest, "x") {
		pr.Exec, rest = true, rest[1:]
	}
	return pr, rest == ""
}

// header parses a header statement; c holds its operands.
func (p *parser) header(line int, kw token, c *cursor) *Error {
	switch kw.text {
	case "scenario":
		const want = "a scenario name matching [a-z0-9][a-z0-9._-]*"
		t, err := c.next(want)
		if err != nil {
			return err
		}
		if t.quoted || !validScenarioName(t.text) {
			return c.errAt(t, want)
		}
		if err := p.nameTooLong(line, t.col, "a scenario name", t.text); err != nil {
			return err
		}
		p.sc.Pos = p.pos(line, kw.col)
		p.sc.Name = t.text
		return c.done("scenario NAME")
	case "about":
		const want = `a double-quoted string (like "what this scenario shows")`
		t, err := c.next(want)
		if err != nil {
			return err
		}
		if !t.quoted {
			return c.errAt(t, want)
		}
		p.sc.About = t.text[1 : len(t.text)-1]
		return c.done(`about "TEXT"`)
	case "arch":
		list, err := c.nameList("an architecture", KnownArches)
		p.sc.Arches = list
		return err
	case "needs":
		list, err := c.nameList("a host feature", KnownNeeds)
		p.sc.Needs = list
		return err
	case "config":
		return p.configPins(line, c)
	}
	return nil
}

// nameList reads one or more distinct words out of known.
func (c *cursor) nameList(what string, known []string) ([]string, *Error) {
	want := what + " (" + strings.Join(known, ", ") + ")"
	var list []string
	for {
		t, err := c.next(want)
		if err != nil {
			return list, err
		}
		if t.quoted || !slices.Contains(known, t.text) {
			return list, c.errf(t.col, "unknown %s %s (expected one of: %s)",
				strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), quote(t.text), strings.Join(known, ", "))
		}
		if slices.Contains(list, t.text) {
			return list, c.errf(t.col, "duplicate %s", quote(t.text))
		}
		list = append(list, t.text)
		if !c.more() {
			return list, nil
		}
	}
}

// configPins parses config KEY=VALUE...; each value must be one that the
// model's configuration accepts, with its own error text.
func (p *parser) configPins(line int, c *cursor) *Error {
	const want = "KEY=VALUE (like thp=never)"
	keys := config.Keys()
	for {
		t, err := c.next(want)
		if err != nil {
			return err
		}
		key, val, ok := strings.Cut(t.text, "=")
		if t.quoted || !ok || key == "" {
			return c.errAt(t, want)
		}
		if !slices.Contains(keys, key) {
			return c.errf(t.col, "unknown config key %s (known: %s)", quote(key), strings.Join(keys, ", "))
		}
		for _, pin := range p.sc.Config {
			if pin.Key == key {
				return c.errf(t.col, "duplicate config key %q", key)
			}
		}
		scratch := config.Default()
		if err := scratch.Set(key, val); err != nil {
			vals := config.Values(key)
			switch {
			case strings.Contains(vals, "|"):
			case vals == "MAJOR.MINOR":
				vals = "a kernel version MAJOR.MINOR (as 6.18)"
			default:
				vals = "a number of " + vals
			}
			return c.errf(t.col+len(key)+1, "expected %s for %s, found %s", vals, key, quote(val))
		}
		p.sc.Config = append(p.sc.Config, ConfigPin{Pos: p.pos(line, t.col), Key: key, Value: val})
		if !c.more() {
			return nil
		}
	}
}

// op parses the operation that keyword kw starts.
func (p *parser) op(c *cursor, kw token) (Op, *Error) {
	if kw.quoted {
		return nil, c.errf(kw.col, "unknown statement %s (expected one of: %s)", quote(kw.text), keywordList)
	}
	switch kw.text {
	case "mmap":
		return p.mmap(c)
	case "munmap":
		o := &Munmap{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Size, err = c.sizeMax(MaxRange, whyRange); err != nil {
			return nil, err
		}
		return o, c.done("munmap ADDR SIZE")
	case "mprotect":
		o := &Mprotect{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Size, err = c.sizeMax(MaxRange, whyRange); err != nil {
			return nil, err
		}
		if o.Prot, err = c.prot(); err != nil {
			return nil, err
		}
		return o, c.done("mprotect ADDR SIZE PROT")
	case "madvise":
		o := &Madvise{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		var st token
		if o.Size, st, err = c.sizeTok(); err != nil {
			return nil, err
		}
		t, err := c.oneOf(string(AdvDontneed), string(AdvPopulateRead), string(AdvPopulateWrite),
			string(AdvGuardInstall), string(AdvGuardRemove), string(AdvRandom), string(AdvHWPoison))
		if err != nil {
			return nil, err
		}
		o.Advice = Advice(t.text)
		max, why := uint64(MaxRange), whyRange
		switch o.Advice {
		case AdvPopulateRead, AdvPopulateWrite, AdvHWPoison:
			max, why = MaxFill, whyFill
		}
		if err := p.bounded(c.line, st.col, st.text, o.Size, max, why); err != nil {
			return nil, err
		}
		return o, c.done("madvise ADDR SIZE ADVICE")
	case "file":
		return p.fileOp(c)
	case "truncate":
		o := &Truncate{}
		t, err := c.name("a file name")
		if err != nil {
			return nil, err
		}
		if !p.files[t.text] {
			return nil, c.errf(t.col, "%s", unknownFile(t.text))
		}
		o.Name = t.text
		if o.Size, err = c.sizeMax(MaxFill, whyFill); err != nil {
			return nil, err
		}
		return o, c.done("truncate NAME SIZE")
	case "rlimit":
		o := &Rlimit{}
		t, err := c.next("a resource (stack)")
		if err != nil {
			return nil, err
		}
		if t.text != "stack" {
			return nil, c.errAt(t, "a resource (stack, the only one so far)")
		}
		o.Resource = t.text
		if o.Size, err = c.size(); err != nil {
			return nil, err
		}
		return o, c.done("rlimit stack SIZE")
	case "memlimit":
		o := &Memlimit{}
		var err *Error
		if o.Size, err = c.sizeMax(MaxMemlimit, whyMem); err != nil {
			return nil, err
		}
		return o, c.done("memlimit SIZE")
	case "hugepages":
		o := &Hugepages{}
		var err *Error
		if o.N, err = c.number("a number of huge pages (like 4)"); err != nil {
			return nil, err
		}
		if o.N > MaxHugepages {
			return nil, c.errf(c.toks[c.i-1].col, "expected a number of huge pages of at most %d (2 MiB each: 2 GiB of memory), found %s",
				MaxHugepages, quote(c.toks[c.i-1].text))
		}
		return o, c.done("hugepages N")
	case "read":
		o := &Read{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		return o, c.done("read ADDR")
	case "write":
		o := &Write{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Value, err = c.optByte(0x41); err != nil {
			return nil, err
		}
		return o, c.done("write ADDR [BYTE]")
	case "exec":
		o := &Exec{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		return o, c.done("exec ADDR")
	case "touch":
		o := &Touch{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Size, err = c.sizeMax(MaxFill, whyFill); err != nil {
			return nil, err
		}
		t, err := c.oneOf("read", "write")
		if err != nil {
			return nil, err
		}
		if t.text == "write" {
			o.Access = AccessWrite
		}
		return o, c.done("touch ADDR SIZE read|write")
	case "kread":
		o := &KRead{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Size, err = c.sizeMax(MaxFill, whyFill); err != nil {
			return nil, err
		}
		if o.Value, err = c.optByte(0); err != nil {
			return nil, err
		}
		return o, c.done("kread ADDR SIZE [BYTE]")
	case "kwrite":
		o := &KWrite{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if o.Size, err = c.sizeMax(MaxFill, whyFill); err != nil {
			return nil, err
		}
		return o, c.done("kwrite ADDR SIZE")
	case "kderef":
		o := &KDeref{}
		var err *Error
		if o.Addr, err = c.addr(); err != nil {
			return nil, err
		}
		if c.more() {
			if _, err := c.oneOf("write"); err != nil {
				return nil, err
			}
			o.Write = true
		}
		return o, c.done("kderef ADDR [write]")
	case "thread", "fork":
		t, err := c.name("a new actor name")
		if err != nil {
			return nil, err
		}
		if p.actors[t.text] {
			return nil, c.errf(t.col, "actor %q already exists", t.text)
		}
		p.fx.actor = t.text // even past the limit: no knock-on errors for its name
		if len(p.actors) >= MaxActors {
			return nil, c.errf(kw.col, "expected at most %d actors (main and %d that thread and fork make), found one more: %s", MaxActors, MaxActors-1, quote(t.text))
		}
		if kw.text == "thread" {
			return &Thread{Name: t.text}, c.done("thread T")
		}
		return &Fork{Name: t.text}, c.done("fork T")
	case "sigaction":
		sig, err := c.signal()
		if err != nil {
			return nil, err
		}
		t, err := c.oneOf(SigCatch, SigIgnore, SigDefault)
		if err != nil {
			return nil, err
		}
		if !sig.Catchable() && t.text != SigDefault {
			return nil, c.errf(t.col, "%v cannot be caught or ignored (expected default, found %s)", sig, quote(t.text))
		}
		return &Sigaction{Signal: int(sig), Action: t.text}, c.done("sigaction SIG catch|ignore|default")
	case "kill", "caught":
		target, err := c.actor()
		if err != nil {
			return nil, err
		}
		sig, err := c.signal()
		if err != nil {
			return nil, err
		}
		if kw.text == "kill" {
			return &Kill{Target: target, Signal: int(sig)}, c.done("kill T SIG")
		}
		return &Caught{Target: target, Signal: int(sig)}, c.done("caught T SIG => N")
	case "wait":
		t, err := c.name("an actor name")
		if err != nil {
			return nil, err
		}
		if !p.actors[t.text] {
			return nil, c.errf(t.col, "%s", unknownActor(t.text))
		}
		if _, ok := p.pending[t.text]; !ok && !p.mayWait[t.text] {
			return nil, c.errf(t.col, "actor %s has no pending background statement to wait for (start one with \"%s: STATEMENT &\")", t.text, t.text)
		}
		p.fx.wait = t.text
		return &Wait{Target: t.text}, c.done("wait T")
	case "uffd":
		return p.uffd(c)
	case "faults":
		target, err := c.actor()
		if err != nil {
			return nil, err
		}
		return &Faults{Target: target}, c.done("faults T")
	case "evict", "io":
		t, err := c.name("a file name")
		if err != nil {
			return nil, err
		}
		if !p.files[t.text] {
			return nil, c.errf(t.col, "%s", unknownFile(t.text))
		}
		if kw.text == "evict" {
			return &Evict{Name: t.text}, c.done("evict NAME")
		}
		h, err := c.oneOf("hold", "release")
		if err != nil {
			return nil, err
		}
		return &IO{Name: t.text, Hold: h.text == "hold"}, c.done("io NAME hold|release")
	}
	return nil, c.errf(kw.col, "unknown statement %s (expected one of: %s)", quote(kw.text), keywordList)
}

func unknownFile(name string) string {
	return fmt.Sprintf("unknown file %q (no earlier \"file %s SIZE\" defines it)", name, name)
}

// mmap parses "mmap NAME SIZE PROT FLAG... [at=ADDR]", flags in any order.
func (p *parser) mmap(c *cursor) (Op, *Error) {
	m := &Mmap{}
	t, err := c.name("a region name")
	if err != nil {
		return nil, err
	}
	m.Name = t.text
	p.fx.region = t.text
	var st token
	if m.Size, st, err = c.sizeTok(); err != nil {
		return nil, err
	}
	if m.Prot, err = c.prot(); err != nil {
		return nil, err
	}
	const flags = "private, shared, anon, file=FILE, off=SIZE, growsdown, populate, hugetlb, noreserve, locked or at=ADDR"
	var sharing, backing, off *token
	var seenBuf [12]string
	seen := seenBuf[:0] // flags so far, "file=" for file=FILE
	for c.more() {
		t := c.toks[c.i]
		c.i++
		key, val, hasVal := strings.Cut(t.text, "=")
		flag := key
		if hasVal {
			flag = t.text[:len(key)+1] // key and its "=", without a copy
		}
		if t.quoted {
			flag = t.text
		}
		if slices.Contains(seen, flag) {
			return nil, c.errf(t.col, "duplicate mmap flag %s", quote(flag))
		}
		seen = append(seen, flag)
		switch flag {
		case "private", "shared":
			if sharing != nil {
				return nil, c.errf(t.col, "mmap flags %s and %s conflict: a mapping is either private or shared", sharing.text, t.text)
			}
			sharing = &c.toks[c.i-1]
			m.Shared = flag == "shared"
		case "anon", "file=":
			if backing != nil {
				return nil, c.errf(t.col, "mmap flags %s and %s conflict: a mapping is either anon or backed by one file", quote(backing.text), quote(t.text))
			}
			backing = &c.toks[c.i-1]
			if flag == "file=" {
				if !validName(val) {
					return nil, c.errf(t.col+len("file="), "expected a file name (%s) after file=, found %s", nameRule, quote(val))
				}
				if !p.files[val] {
					return nil, c.errf(t.col+len("file="), "%s", unknownFile(val))
				}
				m.File = val
			}
		case "off=":
			off = &c.toks[c.i-1]
			if m.Off, err = p.size(c.line, t.col+len("off="), val, wantSize+" after off="); err != nil {
				return nil, err
			}
		case "at=":
			a, err := p.addr(c.line, t.col+len("at="), val)
			if err != nil {
				return nil, err
			}
			m.At = &a
		case "growsdown":
			m.GrowsDown = true
		case "populate":
			m.Populate = true
		case "hugetlb":
			m.Hugetlb = true
		case "noreserve":
			m.NoReserve = true
		case "locked":
			m.Locked = true
		default:
			return nil, c.errf(t.col, "unknown mmap flag %s (expected %s)", quote(t.text), flags)
		}
	}
	if sharing == nil {
		return nil, c.errEnd("the mmap flag private or shared")
	}
	if backing == nil {
		return nil, c.errEnd("the mmap flag anon or file=FILE")
	}
	if off != nil && m.File == "" {
		return nil, c.errf(off.col, "off=SIZE is the offset in a file: it needs file=FILE, not anon")
	}
	max, why := uint64(MaxRange), whyRange
	if m.Populate || m.Locked {
		max, why = MaxFill, whyFill // populate and locked fill the mapping
	}
	if err := p.bounded(c.line, st.col, st.text, m.Size, max, why); err != nil {
		return nil, err
	}
	return m, nil
}

// fileOp parses "file NAME SIZE [fill=BYTE]".
func (p *parser) fileOp(c *cursor) (Op, *Error) {
	o := &File{}
	t, err := c.name("a file name")
	if err != nil {
		return nil, err
	}
	o.Name = t.text
	p.fx.file = t.text
	if o.Size, err = c.sizeMax(MaxFill, whyFill); err != nil {
		return nil, err
	}
	if t, ok := c.peek(); ok {
		c.i++
		val, ok := strings.CutPrefix(t.text, "fill=")
		if !ok || t.quoted {
			return nil, c.errAt(t, "fill=BYTE or end of statement")
		}
		if o.Fill, err = p.byteVal(c.line, t.col+len("fill="), val); err != nil {
			return nil, err
		}
	}
	return o, c.done("file NAME SIZE [fill=BYTE]")
}

// uffd parses "uffd U CMD ...".
func (p *parser) uffd(c *cursor) (Op, *Error) {
	o := &Uffd{}
	name, err := c.name("a userfaultfd name")
	if err != nil {
		return nil, err
	}
	o.Name = name.text
	cmds := []string{string(UffdRegister), string(UffdEvent), string(UffdCopy), string(UffdZeropage),
		string(UffdPoison), string(UffdContinue), string(UffdWake), string(UffdWP), string(UffdUnregister)}
	t, err := c.next("a userfaultfd command (" + orList(cmds) + ")")
	if err != nil {
		return nil, err
	}
	if t.quoted || !slices.Contains(cmds, t.text) {
		return nil, c.errf(t.col, "unknown userfaultfd command %s (expected %s)", quote(t.text), orList(cmds))
	}
	o.Cmd = UffdCmd(t.text)
	if o.Cmd == UffdRegister {
		p.fx.uffd = o.Name // even past the limit: no knock-on errors for its name
		if !p.uffds[o.Name] && len(p.uffds) >= MaxUffds {
			return nil, c.errf(name.col, "expected at most %d userfaultfd names, found one more: %s", MaxUffds, quote(o.Name))
		}
	} else if !p.uffds[o.Name] {
		return nil, c.errf(name.col, "unknown userfaultfd %q (create it first with \"uffd %s register ADDR SIZE MODE...\")", o.Name, o.Name)
	}
	if o.Cmd == UffdEvent {
		return o, c.done("uffd U event")
	}
	if o.Addr, err = c.addr(); err != nil {
		return nil, err
	}
	max, why := uint64(MaxRange), whyRange
	switch o.Cmd {
	case UffdCopy, UffdZeropage, UffdContinue, UffdPoison:
		max, why = MaxFill, whyFill
	}
	if o.Size, err = c.sizeMax(max, why); err != nil {
		return nil, err
	}
	switch o.Cmd {
	case UffdRegister:
		const want = "a userfaultfd mode (missing, wp or minor)"
		var seen []string
		for c.more() {
			t := c.toks[c.i]
			c.i++
			if slices.Contains(seen, t.text) {
				return nil, c.errf(t.col, "duplicate %s", quote(t.text))
			}
			seen = append(seen, t.text)
			switch {
			case t.quoted:
				return nil, c.errAt(t, want+" or sigbus")
			case t.text == "missing":
				o.Missing = true
			case t.text == "wp":
				o.WP = true
			case t.text == "minor":
				o.Minor = true
			case t.text == "sigbus":
				o.SigBus = true
			default:
				return nil, c.errAt(t, want+" or sigbus")
			}
		}
		if !o.Missing && !o.WP && !o.Minor {
			return nil, c.errEnd(want)
		}
		return o, nil
	case UffdCopy:
		if o.Value, err = c.optByte(0); err != nil {
			return nil, err
		}
		return o, c.done("uffd U copy ADDR SIZE [BYTE]")
	case UffdWP:
		t, err := c.oneOf("on", "off")
		if err != nil {
			return nil, err
		}
		o.On = t.text == "on"
		return o, c.done("uffd U wp ADDR SIZE on|off")
	}
	return o, c.done("uffd U " + string(o.Cmd) + " ADDR SIZE")
}

// expectations parses "=> OUTCOME" and "ARCH=> OUTCOME" groups; toks
// starts with an arrow (or is empty).
func (p *parser) expectations(st *Stmt, line int, toks []token, op Op) *Error {
	_, caught := op.(*Caught)
	for i := 0; i < len(toks); {
		arrow := toks[i]
		j := i + 1
		for j < len(toks) && !isArrow(toks[j]) {
			j++
		}
		c := &cursor{p: p, line: line, toks: toks[i+1 : j], stop: "end of line", stopCol: toks[j-1].end()}
		if j < len(toks) {
			c.stop, c.stopWord, c.stopCol = toks[j].text, true, toks[j].col
		}
		arch, bad := "", ""
		var sel Selector
		if key := strings.TrimSuffix(arrow.text, "=>"); key != "" {
			var err error
			if sel, err = ParseSelector(key); err != nil {
				bad = err.Error()
			}
			arch = sel.String()
		}
		switch {
		case bad != "":
			return p.errf(line, arrow.col, "%s", bad)
		case arch == "" && st.Expect != nil:
			return p.errf(line, arrow.col, "duplicate expectation: a statement has one \"=> OUTCOME\" (and ARCH=> overrides)")
		case arch == "" && len(st.Overrides) > 0:
			return p.errf(line, arrow.col, "the main expectation \"=> OUTCOME\" must come before the ARCH=> overrides")
		case arch != "":
			if _, dup := st.Overrides[arch]; dup {
				return p.errf(line, arrow.col, "duplicate override for %s", arch)
			}
			for other := range st.Overrides {
				if o, err := ParseSelector(other); err == nil && o.overlaps(sel) {
					return p.errf(line, arrow.col, "override %s overlaps %s: both hold for some kernel (give them ranges that do not meet)", arch, other)
				}
			}
		}
		if !c.more() {
			if caught {
				return c.errEnd("a count (the number of times the handler ran) after " + quote(arrow.text))
			}
			return c.errEnd(wantOutcome + " after " + quote(arrow.text))
		}
		var o *Outcome
		var err *Error
		if _, faults := op.(*Faults); faults {
			o, err = p.faultsOutcome(c)
		} else {
			o, err = p.outcome(c, caught)
		}
		if err != nil {
			return err
		}
		if err := p.possible(op, o); err != nil {
			return err
		}
		// What a read gives is a byte (0 to 255, or ret).
		if _, read := op.(*Read); read && o.Kind == OutOK && o.HasValue && !o.ValueRet && o.Value > 255 {
			return p.errf(line, o.Pos.Col+3, "expected a byte value after ok (0 to 255, or ret), found %d", o.Value)
		}
		if arch == "" {
			st.Expect = o
		} else {
			if st.Overrides == nil {
				st.Overrides = map[string]*Outcome{}
			}
			st.Overrides[arch] = o
		}
		i = j
	}
	return nil
}

// possible refuses an outcome that op can never have: an errno of a user
// access (a load, store or fetch raises a signal, never returns an error),
// a signal of a system call other than madvise hwpoison (a kernel copy that
// faults returns EFAULT or a short count), a fault event of anything but "uffd U event". wait takes
// whatever its statement may have.
func (p *parser) possible(op Op, o *Outcome) *Error {
	access, signals := false, false
	switch op := op.(type) {
	case *Wait:
		return nil
	case *Read, *Write, *Exec, *Touch:
		access, signals = true, true
	case *Madvise:
		// memory_failure with MF_ACTION_REQUIRED signals the caller.
		signals = op.Advice == AdvHWPoison
	}
	event := false
	if u, ok := op.(*Uffd); ok && u.Cmd == UffdEvent {
		event = true
	}
	switch {
	case access && o.Kind == OutErrno:
		return p.errf(o.Pos.Line, o.Pos.Col, "%s is a user access: it ends in ok, a signal (SIGNAME CODE @ADDR), killed or blocked, never an errno (found %s)",
			op.Keyword(), abi.Errno(o.Errno))
	case !signals && o.Kind == OutSignal:
		return p.errf(o.Pos.Line, o.Pos.Col, "only a user access (read, write, exec, touch) or madvise hwpoison raises a signal as its outcome; %s does not (a system call that faults fails with EFAULT)",
			op.Keyword())
	case !event && o.Kind == OutFault:
		return p.errf(o.Pos.Line, o.Pos.Col, "only \"uffd U event\" reads a fault event; %s does not", op.Keyword())
	}
	return nil
}

// outcome parses one outcome, which fills c. A bare number (a count) is
// the outcome of caught and of nothing else.
func (p *parser) outcome(c *cursor, caught bool) (*Outcome, *Error) {
	t, _ := c.next(wantOutcome)
	o := p.newOutcome()
	o.Pos = p.pos(c.line, t.col)
	if caught {
		if t.quoted || !numberSyntax(t.text) {
			return nil, c.errAt(t, "a count (the number of times the handler ran, like 1)")
		}
		n, err := p.number(c.line, t.col, t.text, "a count")
		if err != nil {
			return nil, err
		}
		o.Kind, o.Count = OutCount, n
		return o, c.done("caught T SIG => N")
	}
	if t.quoted {
		return nil, c.errAt(t, wantOutcome)
	}
	var err *Error
	switch w := t.text; {
	case w == "ok":
		o.Kind = OutOK
		if v, ok := c.peek(); ok {
			c.i++
			o.HasValue = true
			switch {
			case v.text == "ret":
				o.ValueRet = true
			case strings.HasSuffix(v.text, "pg") && !v.quoted:
				// A byte count of whole base pages (a uffd copy's, a
				// kread's): the extension's unit, as in sizes.
				if o.Value, err = p.size(c.line, v.col, v.text, "a value after ok (a number, a count of pages like 2pg, or ret)"); err != nil {
					return nil, err
				}
			default:
				if o.Value, err = p.number(c.line, v.col, v.text, "a value after ok (a number, or ret)"); err != nil {
					return nil, err
				}
			}
		}
		return o, c.done("ok [VALUE]")
	case w == "killed":
		o.Kind = OutKilled
		sig, err := c.signal()
		if err != nil {
			return nil, err
		}
		o.Signal = int(sig)
		return o, c.done("killed SIGNAME")
	case w == "blocked":
		o.Kind = OutBlocked
		return o, c.done("blocked")
	case w == "oops":
		o.Kind = OutOops
		return o, c.done("oops")
	case w == "livelock":
		o.Kind = OutLivelock
		return o, c.done("livelock")
	case w == "fault":
		return p.faultOutcome(c, o)
	case strings.HasPrefix(w, "SIG"):
		return p.signalOutcome(c, o, t)
	case numberSyntax(w):
		return nil, c.errf(t.col, "expected %s, found %s (a bare count is the expectation of caught only)", wantOutcome, quote(w))
	}
	if e, ok := abi.ParseErrno(t.text); ok {
		o.Kind, o.Errno = OutErrno, int(e)
		return o, c.done("ERRNO")
	}
	if len(t.text) > 1 && t.text[0] == 'E' && strings.ToUpper(t.text) == t.text {
		return nil, c.errf(t.col, "unknown errno %s (like EFAULT, ENOMEM or EINTR)", quote(t.text))
	}
	return nil, c.errAt(t, wantOutcome)
}

// faultsOutcome parses "minflt=N majflt=N", the expectation of faults;
// either count may be left out, and is then not checked, and they may
// come in either order.
func (p *parser) faultsOutcome(c *cursor) (*Outcome, *Error) {
	const want = "faults T => minflt=N majflt=N, or either count alone"
	o := &Outcome{Kind: OutFaults}
	for range 2 {
		t, ok := c.peek()
		if !ok || t.quoted {
			break
		}
		key := t.text[:strings.IndexByte(t.text, '=')+1]
		if key != "minflt=" && key != "majflt=" || key == "minflt=" && o.HasMinflt || key == "majflt=" && o.HasMajflt {
			break
		}
		c.next(key + "N")
		if o.Pos.Line == 0 {
			o.Pos = p.pos(c.line, t.col)
		}
		n, err := p.number(c.line, t.col+len(key), t.text[len(key):], "a fault count")
		if err != nil {
			return nil, err
		}
		if key == "minflt=" {
			o.Minflt, o.HasMinflt = n, true
		} else {
			o.Majflt, o.HasMajflt = n, true
		}
	}
	if !o.HasMinflt && !o.HasMajflt {
		t, err := c.next("minflt=N or majflt=N")
		if err != nil {
			return nil, err
		}
		return nil, c.errAt(t, "minflt=N or majflt=N")
	}
	return o, c.done(want)
}

// faultOutcome parses the rest of "fault ADDR [write] [wp] [minor]".
func (p *parser) faultOutcome(c *cursor, o *Outcome) (*Outcome, *Error) {
	o.Kind = OutFault
	t, err := c.next(wantAddr)
	if err != nil {
		return nil, err
	}
	if o.Addr, err = p.addr(c.line, t.col, t.text); err != nil {
		return nil, err
	}
	// Regions start page-aligned, so only the offset can misalign.
	if o.Addr.Offset%4096 != 0 {
		return nil, c.errf(t.col, "a fault event's address is page-aligned: expected a multiple of 4096 from the region start, found %s", quote(t.text))
	}
	var seen []string
	for c.more() {
		t := c.toks[c.i]
		c.i++
		if slices.Contains(seen, t.text) {
			return nil, c.errf(t.col, "duplicate %s", quote(t.text))
		}
		seen = append(seen, t.text)
		switch {
		case t.quoted:
			return nil, c.errAt(t, "write, wp, minor or end of outcome")
		case t.text == "write":
			o.FaultWrite = true
		case t.text == "wp":
			o.FaultWP = true
		case t.text == "minor":
			o.FaultMinor = true
		default:
			return nil, c.errAt(t, "write, wp, minor or end of outcome")
		}
	}
	return o, nil
}

// signalOutcome parses "SIGNAME CODE @ADDR [lsb=N]"; t is SIGNAME.
func (p *parser) signalOutcome(c *cursor, o *Outcome, t token) (*Outcome, *Error) {
	o.Kind = OutSignal
	sig, err := p.signal(c.line, t)
	if err != nil {
		return nil, err
	}
	o.Signal = int(sig)
	const wantCode = "an si_code name (like SEGV_MAPERR, BUS_ADRERR or SI_KERNEL)"
	ct, err := c.next(wantCode)
	if err != nil {
		return nil, err
	}
	code, owner, ok := abi.ParseCode(ct.text)
	switch {
	case !ok:
		return nil, c.errAt(ct, wantCode)
	case owner != 0 && owner != sig:
		return nil, c.errf(ct.col, "si_code %s belongs to %v, not %v", ct.text, owner, sig)
	}
	o.Code = int(code)
	const wantAt = "@ADDR (the si_addr, like @X+16)"
	at, err := c.next(wantAt)
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(at.text, "@")
	switch {
	case !ok || at.quoted:
		return nil, c.errAt(at, wantAt)
	case rest == "":
		return nil, c.errf(at.end(), "expected an address right after \"@\" (no space), found %s", c.nextDesc())
	}
	if o.Addr, err = p.addr(c.line, at.col+1, rest); err != nil {
		return nil, err
	}
	if lt, ok := c.peek(); ok {
		c.i++
		const wantLSB = "lsb=N (si_addr_lsb, 0 to 63) or end of outcome"
		v, ok := strings.CutPrefix(lt.text, "lsb=")
		if !ok || lt.quoted {
			return nil, c.errAt(lt, wantLSB)
		}
		n, err := p.number(c.line, lt.col+len("lsb="), v, "a number from 0 to 63 after lsb=")
		if err != nil {
			return nil, err
		}
		if n > 63 {
			return nil, c.errf(lt.col+len("lsb="), "expected a number from 0 to 63 after lsb=, found %s", quote(v))
		}
		o.HasLSB, o.LSB = true, int(n)
	}
	return o, c.done("SIGNAME CODE @ADDR [lsb=N]")
}

// nextDesc describes the next word, or what ends the words.
func (c *cursor) nextDesc() string {
	if t, ok := c.peek(); ok {
		return quote(t.text)
	}
	return c.stopText()
}
