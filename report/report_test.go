package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/stream"
)

// A sample of each input: two kernels' conform streams and a diff
// stream, with counts that all differ, so a count in the wrong place
// shows.
type conformSample struct {
	host    stream.Host
	classes map[string]int
}

var (
	hostX86 = conformSample{
		host:    stream.Host{Type: stream.TypeHost, Command: stream.CommandConform, Arch: "x86_64", Kernel: "6.18.44", Root: true, Model: "native", Config: map[string]string{"kernel": "6.18"}},
		classes: map[string]int{"agree": 7, "model wrong": 1, "expectation wrong": 2, "skipped": 3, "timed out": 1},
	}
	guestArm = conformSample{
		host: stream.Host{Type: stream.TypeHost, Command: stream.CommandConform, Arch: "arm64", Kernel: "6.1.0-57-arm64", Model: "native", Config: map[string]string{"kernel": "6.1"},
			Guest: &stream.Guest{Suite: "bookworm", Version: "6.1", Packages: []stream.Package{{Name: "linux-image-6.1.0-57-arm64", Version: "6.1.192-3"}}}},
		classes: map[string]int{"agree": 5, "generic unexplained": 4, "error": 6},
	}
)

// writeConform writes a conform stream for s; summary false cuts it
// short; a summary count may be off by skew.
func writeConform(t testing.TB, b *bytes.Buffer, s conformSample, summary bool, skew int) {
	t.Helper()
	w := stream.NewWriter(b)
	must := func(v any) {
		if err := w.Write(v); err != nil {
			t.Fatal(err)
		}
	}
	must(s.host)
	sum := stream.ConformSummary{Type: stream.TypeSummary, Command: stream.CommandConform, Arch: s.host.Arch, Kernel: s.host.Kernel}
	n := 0
	for _, class := range stream.ClassNames {
		for i := range s.classes[class] {
			n++
			file := fmt.Sprintf("scenarios/%s-%d.fault", strings.ReplaceAll(class, " ", "-"), i)
			sc := stream.ConformScenario{Type: stream.TypeScenario, Command: stream.CommandConform, Scenario: fmt.Sprintf("%s-%d", strings.ReplaceAll(class, " ", "-"), i),
				File: file, Arch: s.host.Arch, Kernel: s.host.Kernel, Model: "native", Class: class}
			pos := stream.Position{File: file, Line: 7, Column: 1}
			switch class {
			case "model wrong", "expectation wrong":
				sc.Diffs = []stream.Disagreement{{Position: pos, Pos: file + ":7:1", Statement: "read A+0x10 => ok 0x61",
					Expected: stream.ParseOutcome("ok 0x61"), Host: stream.ParseOutcome("SIGBUS BUS_ADRERR @A+0x10 lsb=0"),
					Model: stream.ParseOutcome("ok 0x61"), ModelOK: true}}
			case "generic unexplained":
				sc.Generic = []stream.GenericDifference{{Position: pos, Pos: file + ":7:1", Statement: "kread F A 1p",
					Host: stream.ParseOutcome("EFAULT"), Generic: stream.ParseOutcome("ok 0x1000"), Rule: "unexplained"}}
			case "skipped", "error", "timed out":
				sc.Reason = "why " + class
			case "agree":
				if i == 0 {
					sc.Generic = []stream.GenericDifference{{Position: pos, Pos: file + ":7:1", Statement: "read A", Host: stream.ParseOutcome("SIGBUS BUS_MCEERR_AR @A lsb=12"),
						Generic: stream.ParseOutcome("SIGBUS BUS_ADRERR @A lsb=0"), Rule: "poison-as-adrerr", Documented: true}}
				}
			}
			must(sc)
		}
	}
	sum.Scenarios = n
	sum.Agree = s.classes["agree"] + skew
	sum.ModelWrong, sum.ExpectationWrong, sum.GenericUnexplained = s.classes["model wrong"], s.classes["expectation wrong"], s.classes["generic unexplained"]
	sum.Skipped, sum.Errors, sum.TimedOut = s.classes["skipped"], s.classes["error"], s.classes["timed out"]
	if summary {
		must(sum)
	}
}

// writeDiff writes a diff stream: riscv64 differences by two rules and
// an unexplained one on arm64.
func writeDiff(t testing.TB, b *bytes.Buffer) {
	t.Helper()
	w := stream.NewWriter(b)
	diff := func(scen, arch, kernel, rule string, line int) stream.Difference {
		d := stream.Difference{Type: stream.TypeDifference, Command: stream.CommandDiff, Scenario: scen,
			Position: stream.Position{File: "scenarios/" + scen + ".fault", Line: line, Column: 1}, Pos: fmt.Sprintf("scenarios/%s.fault:%d:1", scen, line),
			Statement: "read A+0x10", Arch: arch, Kernel: kernel, Native: stream.ParseOutcome("SIGBUS BUS_ADRERR @A+0x10 lsb=0"),
			Generic: stream.ParseOutcome("SIGBUS BUS_MCEERR_AR @A+0x10 lsb=12"), Rule: rule}
		if rule != "unexplained" {
			d.Rules = []string{rule}
		}
		return d
	}
	lines := []any{
		stream.Error{Type: stream.TypeError, Command: stream.CommandDiff, File: "bad.fault", Line: 2, Column: 3, Message: "m", Text: "bad.fault:2:3: m"},
		diff("hwpoison-4k", "riscv64", "6.18", "poison-as-adrerr", 7),
		diff("hwpoison-4k-6.1", "riscv64", "6.1", "poison-as-adrerr", 8),
		diff("io-kill-kernel", "riscv64", "6.1", "kernel-retry-fatal-signal", 9),
		diff("mystery", "arm64", "6.18", "unexplained", 10),
		stream.NotCompared{Type: stream.TypeNotCompared, Command: stream.CommandDiff, Scenario: "ppc", File: "scenarios/ppc.fault", Arch: "ppc64le", Reason: "architecture not modeled yet"},
		stream.DiffSummary{Type: stream.TypeSummary, Command: stream.CommandDiff, Arches: []string{"x86_64", "riscv64", "arm64"}, Scenarios: 4, Pairs: 12, Compared: 99,
			Differences: 4, Unexplained: 1, NotCompared: 1, FileErrors: 1,
			Matrix: map[string]map[string]int{"poison-as-adrerr": {"riscv64": 2}, "kernel-retry-fatal-signal": {"riscv64": 1}, "unexplained": {"arm64": 1}}},
	}
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
}

// samplePage is the page of both conform samples and the diff sample.
func samplePage(t *testing.T) *Page {
	var a, b, c bytes.Buffer
	writeConform(t, &a, hostX86, true, 0)
	writeConform(t, &b, guestArm, true, 0)
	writeDiff(t, &c)
	var p Page
	for i, r := range []*bytes.Buffer{&a, &b, &c} {
		if err := p.Add([]string{"x86.json", "arm64.json", "diff.json"}[i], r); err != nil {
			t.Fatal(err)
		}
	}
	return &p
}

func TestAddCounts(t *testing.T) {
	p := samplePage(t)
	if len(p.Conform) != 2 || len(p.Diffs) != 1 {
		t.Fatalf("%d conform runs, %d diff runs", len(p.Conform), len(p.Diffs))
	}
	for _, c := range p.Conform {
		want := hostX86.classes
		if c.Host.Arch == "arm64" {
			want = guestArm.classes
		}
		got := c.Counts()
		for _, class := range stream.ClassNames {
			if got[class] != want[class] {
				t.Errorf("%s: %d %s, want %d", c.Host.Arch, got[class], class, want[class])
			}
		}
	}
	d := p.Diffs[0]
	if len(d.Differences) != 4 || len(d.NotCompared) != 1 || len(d.Errors) != 1 || d.Summary == nil {
		t.Errorf("diff run %+v", d)
	}
	m := d.matrix()
	if m["poison-as-adrerr"]["riscv64"] != 2 || m["unexplained"]["arm64"] != 1 || m["kernel-retry-fatal-signal"]["riscv64"] != 1 {
		t.Errorf("matrix %v", m)
	}
	if r := rules(m); len(r) != 3 || r[0] != "poison-as-adrerr" || r[2] != "unexplained" {
		t.Errorf("rows %v", r)
	}
	var g []string
	for _, x := range d.groups() {
		g = append(g, fmt.Sprintf("%s %s %d", x.Arch, x.Kernel, len(x.Differences)))
	}
	if strings.Join(g, ", ") != "riscv64 6.1 2, riscv64 6.18 1, arm64 6.18 1" {
		t.Errorf("groups %v", g)
	}
	p.check()
	if len(p.Problems) != 0 {
		t.Errorf("problems %v", p.Problems)
	}
}

// TestAddProblems: a stream cut short, a summary that counts otherwise,
// several streams in one file.
func TestAddProblems(t *testing.T) {
	var b bytes.Buffer
	writeConform(t, &b, hostX86, false, 0) // no summary
	writeConform(t, &b, guestArm, true, 1) // one agree too many
	var p Page
	if err := p.Add("both.json", &b); err != nil {
		t.Fatal(err)
	}
	p.check()
	if len(p.Conform) != 2 || len(p.Problems) != 2 ||
		!strings.Contains(p.Problems[0], "x86_64 6.18.44 before line") || !strings.Contains(p.Problems[0], "cut short") ||
		!strings.Contains(p.Problems[1], "the summary counts 6 agree, the stream has 5") {
		t.Errorf("runs %d, problems %q", len(p.Conform), p.Problems)
	}
}

func TestAddRejects(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"scenario","command":"conform","class":"agree"}`, "x:1: a conform scenario line before its stream's host line"},
		{`{"type":"scenario","command":"run","status":"pass"}`, "x:1: a scenario line of faultline run"},
		{`{"type":"error","command":"run","message":"m","text":"m"}`, "x:1: a line of faultline run"},
		{"PASS  x86_64   native  s (3 checks)", "x:1: not a JSON object"},
		{`{"host": {}, "results": []}`, `x:1: an object without "type"`},
	}
	for _, tc := range tests {
		var p Page
		err := p.Add("x", strings.NewReader(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

// cell finds the count the page shows for a class in a run's row.
func cell(page, run, class string) string {
	row := regexp.MustCompile(`(?s)<tr data-run="` + run + `">.*?</tr>`).FindString(page)
	m := regexp.MustCompile(`data-class="` + regexp.QuoteMeta(class) + `" data-count="(\d+)">(\d+)<`).FindStringSubmatch(row)
	if m == nil || m[1] != m[2] {
		return "?"
	}
	return m[1]
}

func TestWriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := samplePage(t).Write(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, s := range []conformSample{hostX86, guestArm} {
		run := "conform-0"
		if s.host.Arch == "arm64" {
			run = "conform-1"
		}
		for _, class := range stream.ClassNames {
			if got := cell(page, run, class); got != fmt.Sprint(s.classes[class]) {
				t.Errorf("%s: %s shows %s, want %d", s.host.Arch, class, got, s.classes[class])
			}
		}
	}
	for _, want := range []string{
		// Each disagreement, folded, with its outcomes side by side and
		// the command that explains it.
		`<details class="item" data-class="model wrong">`,
		`<code>read A&#43;0x10 =&gt; ok 0x61</code>`,
		`<td class="o-bad"><code>SIGBUS BUS_ADRERR @A&#43;0x10 lsb=0</code></td>`,
		`faultline explain scenarios/model-wrong-0.fault:7 --arch x86_64 --handler native --kernel 6.18`,
		`faultline explain scenarios/generic-unexplained-0.fault:7 --arch arm64 --handler both --kernel 6.1`,
		`why timed out`,
		// The guest says which kernel it is.
		`qemu guest, Debian bookworm: linux-image-6.1.0-57-arm64 6.1.192-3`,
		// The conversion differences: the matrix and each one.
		`<tr data-rule="poison-as-adrerr"><td><code>poison-as-adrerr</code></td><td class="n zero">0</td><td class="n">2</td><td class="n zero">0</td><td class="n" data-count="2">2</td></tr>`,
		`<b>riscv64</b>, Linux 6.1: 2 differences`,
		`<span class="problem">1 unexplained</span>`,
		`faultline explain scenarios/io-kill-kernel.fault:9 --arch riscv64 --handler both --kernel 6.1`,
		`architecture not modeled yet`,
		`bad.fault:2:3: m`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Self-contained: nothing is fetched.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//|<link|@import|url\(`).FindString(page); m != "" {
		t.Errorf("the page refers outside itself: %s", m)
	}
}

// TestWriteEscapes: what a stream says is text on the page, never markup.
func TestWriteEscapes(t *testing.T) {
	var in bytes.Buffer
	h := hostX86
	h.host.Kernel = `6.18</td><script>alert(1)</script>`
	writeConform(t, &in, conformSample{host: h.host, classes: map[string]int{"model wrong": 1}}, true, 0)
	var p Page
	if err := p.Add("x", &in); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>alert") || !strings.Contains(b.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the kernel's name is not escaped")
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"scenarios/a-b.fault": "scenarios/a-b.fault",
		"my file.fault":       "'my file.fault'",
		"it's.fault":          `'it'\''s.fault'`,
		"":                    "''",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// FuzzPage: no stream makes Add or Write panic; what Add accepts, Write
// renders.
func FuzzPage(f *testing.F) {
	var a, d bytes.Buffer
	writeConform(f, &a, guestArm, true, 0)
	writeDiff(f, &d)
	f.Add(a.Bytes())
	f.Add(d.Bytes())
	f.Add([]byte(`{"type":"host","command":"conform","config":null,"guest":{}}` + "\n" + `{"type":"scenario","command":"conform","class":"model wrong","diffs":[{}],"generic":[{}]}`))
	f.Add([]byte(`{"type":"difference","command":"diff","rules":null}` + "\n" + `{"type":"summary","command":"diff","matrix":{"x":{"y":-1}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var p Page
		if err := p.Add("fuzz", bytes.NewReader(in)); err != nil {
			return
		}
		var b bytes.Buffer
		if err := p.Write(&b); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWriteGenericStandsIn: where the arch's native handler is not
// modeled, the generic model is the model, and its column says so.
func TestWriteGenericStandsIn(t *testing.T) {
	s := conformSample{host: hostX86.host, classes: map[string]int{"model wrong": 1}}
	s.host.Model = "generic"
	var in, out bytes.Buffer
	writeConform(t, &in, s, true, 0)
	var p Page
	if err := p.Add("x", &in); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<td><code>ok 0x61</code></td>", "--handler generic --kernel 6.18"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(out.String(), "not run this far") {
		t.Error("the generic column says the generic model did not run")
	}
}
