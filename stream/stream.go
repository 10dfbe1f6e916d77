// Package stream is the JSON that faultline's commands print with
// --json: a stream of one object per line (JSON Lines), each saying what
// it is ("type") and which command printed it ("command"), with outcomes
// and positions as fields. docs/json.md documents it; this package holds
// its types, writes lines and reads a stream back (for faultline report).
package stream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Line types.
const (
	TypeHost        = "host"         // conform: the kernel the scenarios ran on
	TypeScenario    = "scenario"     // run: one scenario × arch × handler; conform: one scenario
	TypeDifference  = "difference"   // diff: one statement whose outcome a conversion changes
	TypeNotCompared = "not_compared" // diff: one scenario × arch not compared to its end
	TypeError       = "error"        // a file that could not be read or parsed (one line per error)
	TypeSummary     = "summary"      // the last line: the counts
)

// Commands that print streams.
const (
	CommandRun     = "run"
	CommandConform = "conform"
	CommandDiff    = "diff"
)

// Head is what every line has.
type Head struct {
	Type    string `json:"type"`
	Command string `json:"command"`
}

// Error is a file error: an error in a scenario (File, Line, Column and
// Message) or a path that could not be read (File, where the error names
// it). Text is the line the text output prints.
type Error struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	Text    string `json:"text"`
}

// Failure is one expectation of a run that did not hold.
type Failure struct {
	Position
	Pos       string  `json:"pos"`
	Statement string  `json:"statement"`
	Expected  Outcome `json:"expected"`
	Actual    Outcome `json:"actual"`
	Note      string  `json:"note,omitempty"`
}

// RunScenario is one scenario on one architecture and handler (run).
type RunScenario struct {
	Type       string    `json:"type"`
	Command    string    `json:"command"`
	Scenario   string    `json:"scenario"`
	File       string    `json:"file"`
	Arch       string    `json:"arch"`
	Handler    string    `json:"handler"`
	Kernel     string    `json:"kernel,omitempty"`
	Status     string    `json:"status"` // pass, fail, skip, error, timed_out
	Statements int       `json:"statements"`
	Checked    int       `json:"checked"`
	Failures   []Failure `json:"failures,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Rules      []string  `json:"rules,omitempty"`
	DurationNS int64     `json:"duration_ns"`
}

// Counts are the outcomes of a set of runs.
type Counts struct {
	Runs     int `json:"runs"`
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	Errors   int `json:"errors"`
	TimedOut int `json:"timed_out"`
	Checked  int `json:"checked"`
}

// RunSummary is run's last line.
type RunSummary struct {
	Type      string `json:"type"`
	Command   string `json:"command"`
	Scenarios int    `json:"scenarios"`
	Counts
	Handlers   map[string]Counts `json:"handlers"`
	FileErrors int               `json:"file_errors"`
	Seconds    float64           `json:"seconds"`
}

// Guest is the qemu guest of conform --arch.
type Guest struct {
	Suite           string             `json:"suite"`
	Version         string             `json:"version"` // the suite's kernel MAJOR.MINOR
	Packages        []Package          `json:"packages"`
	BootSeconds     float64            `json:"boot_seconds"`
	Seconds         float64            `json:"seconds"`
	ScenarioSeconds map[string]float64 `json:"scenario_seconds,omitempty"`
	Error           string             `json:"error,omitempty"`
}

// Package is a Debian package the guest's kernel came from.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Host is conform's first line: the kernel the scenarios ran on.
type Host struct {
	Type    string `json:"type"`
	Command string `json:"command"`
	Arch    string `json:"arch"`
	// Kernel is the kernel's release (uname -r).
	Kernel string `json:"kernel"`
	Root   bool   `json:"root"`
	// Model is the handler of the model the kernel is compared with:
	// native, or generic where the arch's native one is not modeled.
	Model  string            `json:"model"`
	Config map[string]string `json:"config"`
	// Missing maps each feature the kernel lacks to the reason.
	Missing map[string]string `json:"missing,omitempty"`
	Notes   []string          `json:"notes,omitempty"`
	// Guest is set for conform --arch.
	Guest *Guest `json:"guest,omitempty"`
	// Detail is everything detected, as the host runner has it.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Disagreement is one statement of a conform scenario on which the
// expectation, the kernel and the model do not all agree.
type Disagreement struct {
	Position
	Pos       string  `json:"pos"`
	Statement string  `json:"statement"`
	Expected  Outcome `json:"expected"`
	Host      Outcome `json:"host"`
	Model     Outcome `json:"model"`
	// Generic is the generic model's outcome, where it ran that far.
	Generic *Outcome `json:"generic,omitempty"`
	HostOK  bool     `json:"host_ok"`
	ModelOK bool     `json:"model_ok"`
}

// GenericDifference is one statement of a conform scenario on which the
// generic model differs from the kernel.
type GenericDifference struct {
	Position
	Pos         string  `json:"pos"`
	Statement   string  `json:"statement"`
	Host        Outcome `json:"host"`
	Generic     Outcome `json:"generic"`
	Rule        string  `json:"rule"`
	Consequence bool    `json:"consequence,omitempty"`
	Documented  bool    `json:"documented"`
}

// ConformScenario is one scenario of conform.
type ConformScenario struct {
	Type     string `json:"type"`
	Command  string `json:"command"`
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel"`
	Model    string `json:"model,omitempty"`
	// Class is one of ClassNames.
	Class       string              `json:"class"`
	Reason      string              `json:"reason,omitempty"`
	Diffs       []Disagreement      `json:"diffs,omitempty"`
	Generic     []GenericDifference `json:"generic,omitempty"`
	GenericNote string              `json:"generic_note,omitempty"`
	// DurationNS is the scenario's wall-clock time (the host run and the
	// models'), HostDurationNS the host run's.
	DurationNS     int64 `json:"duration_ns,omitempty"`
	HostDurationNS int64 `json:"host_duration_ns,omitempty"`
}

// ClassNames are conform's classes, in the order its summary counts them.
var ClassNames = []string{"agree", "model wrong", "expectation wrong", "generic unexplained", "skipped", "error", "timed out"}

// ConformSummary is conform's last line.
type ConformSummary struct {
	Type               string         `json:"type"`
	Command            string         `json:"command"`
	Arch               string         `json:"arch"`
	Kernel             string         `json:"kernel"`
	Scenarios          int            `json:"scenarios"`
	Agree              int            `json:"agree"`
	ModelWrong         int            `json:"model_wrong"`
	ExpectationWrong   int            `json:"expectation_wrong"`
	GenericUnexplained int            `json:"generic_unexplained"`
	GenericByRule      int            `json:"generic_by_rule"`
	Skipped            int            `json:"skipped"`
	Errors             int            `json:"errors"`
	TimedOut           int            `json:"timed_out"`
	FileErrors         int            `json:"file_errors"`
	SkipReasons        map[string]int `json:"skip_reasons,omitempty"`
	Seconds            float64        `json:"seconds"`
}

// ByClass is the summary's count of a class of ClassNames.
func (s *ConformSummary) ByClass(class string) int {
	switch class {
	case "agree":
		return s.Agree
	case "model wrong":
		return s.ModelWrong
	case "expectation wrong":
		return s.ExpectationWrong
	case "generic unexplained":
		return s.GenericUnexplained
	case "skipped":
		return s.Skipped
	case "error":
		return s.Errors
	case "timed out":
		return s.TimedOut
	}
	return 0
}

// Difference is one statement whose outcome converting an arch changes (diff).
type Difference struct {
	Type     string `json:"type"`
	Command  string `json:"command"`
	Scenario string `json:"scenario"`
	Position
	Pos         string   `json:"pos"`
	Statement   string   `json:"statement"`
	Arch        string   `json:"arch"`
	Kernel      string   `json:"kernel"`
	Native      Outcome  `json:"native"`
	Generic     Outcome  `json:"generic"`
	Rule        string   `json:"rule"`
	Rules       []string `json:"rules,omitempty"`
	Consequence bool     `json:"consequence,omitempty"`
	NotedAt     []string `json:"noted_at,omitempty"`
}

// NotCompared is a scenario and arch diff did not compare to the end.
type NotCompared struct {
	Type     string `json:"type"`
	Command  string `json:"command"`
	Scenario string `json:"scenario"`
	File     string `json:"file"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel,omitempty"`
	Reason   string `json:"reason"`
	Compared int    `json:"compared"`
}

// DiffSummary is diff's last line.
type DiffSummary struct {
	Type           string         `json:"type"`
	Command        string         `json:"command"`
	Arches         []string       `json:"arches"`
	Kernel         string         `json:"kernel,omitempty"` // --kernel; empty: each scenario's own
	Scenarios      int            `json:"scenarios"`
	Pairs          int            `json:"pairs"`
	Compared       int            `json:"compared"`
	ComparedByArch map[string]int `json:"compared_by_arch"`
	Differences    int            `json:"differences"`
	Consequences   int            `json:"consequences"`
	Unexplained    int            `json:"unexplained"`
	NotCompared    int            `json:"not_compared"`
	TimedOut       int            `json:"timed_out"`
	FileErrors     int            `json:"file_errors"`
	// Matrix counts the differences each rule explains, by arch.
	Matrix map[string]map[string]int `json:"matrix"`
}

// Writer writes a stream: one object per line.
type Writer struct {
	enc *json.Encoder
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "=>" stays as written
	return &Writer{enc: enc}
}

// Write writes v as one line.
func (w *Writer) Write(v any) error { return w.enc.Encode(v) }

// MaxLine is the longest line Read accepts.
const MaxLine = 16 << 20

// Record is one line of a stream read back: Value is a pointer to the
// type its type and command name (*Host, *RunScenario, *ConformScenario,
// *Difference, *NotCompared, *Error, *RunSummary, *ConformSummary,
// *DiffSummary), or nil for a line of a type this reader does not know,
// which is skipped (a newer faultline may add types).
type Record struct {
	Line  int
	Head  Head
	Value any
}

// ReadError is a line of a stream that is not what the schema says.
type ReadError struct {
	Name string
	Line int
	Msg  string
}

func (e *ReadError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg) }

// Read reads the stream r (named name in errors) to its end, calling fn
// for each line. A line that is not a JSON object with a type, or whose
// fields do not fit it, is a *ReadError and ends the read; so is a line
// longer than MaxLine. Blank lines are skipped.
func Read(r io.Reader, name string, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, err := decode(b)
		if err != nil {
			return &ReadError{name, n, err.Error()}
		}
		rec.Line = n
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &ReadError{name, n + 1, fmt.Sprintf("a line longer than %d MiB: not a faultline stream", MaxLine>>20)}
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// decode reads one line.
func decode(b []byte) (Record, error) {
	var h Head
	if b[0] != '{' {
		return Record{}, errors.New("not a JSON object: a faultline --json stream has one object per line")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return Record{}, fmt.Errorf("not JSON: %v", err)
	}
	if h.Type == "" {
		return Record{}, errors.New(`an object without "type": not a line of a faultline --json stream`)
	}
	var v any
	switch h.Type + "/" + h.Command {
	case TypeHost + "/" + CommandConform:
		v = &Host{}
	case TypeScenario + "/" + CommandRun:
		v = &RunScenario{}
	case TypeScenario + "/" + CommandConform:
		v = &ConformScenario{}
	case TypeDifference + "/" + CommandDiff:
		v = &Difference{}
	case TypeNotCompared + "/" + CommandDiff:
		v = &NotCompared{}
	case TypeSummary + "/" + CommandRun:
		v = &RunSummary{}
	case TypeSummary + "/" + CommandConform:
		v = &ConformSummary{}
	case TypeSummary + "/" + CommandDiff:
		v = &DiffSummary{}
	default:
		if h.Type == TypeError {
			v = &Error{}
			break
		}
		return Record{Head: h}, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return Record{}, fmt.Errorf("a %s line of %s that does not fit the schema: %v", h.Type, h.Command, err)
	}
	return Record{Head: h, Value: v}, nil
}
