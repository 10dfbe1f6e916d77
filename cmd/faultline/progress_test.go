package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestProgressLine: nothing shows before progressDelay; then a tick or a
// step draws the count; results are printed with the line erased; the
// end erases it. The clock and the ticks are the test's: no timing.
func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	tick := make(chan time.Time)
	p := newProgress(&buf, "faultline run", 3, "scenarios", clock.now, tick)
	// Two sends: the second returns once the first tick was handled.
	ticks := func() { tick <- time.Time{}; tick <- time.Time{} }
	read := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		s := buf.String()
		buf.Reset()
		return s
	}
	ticks()
	p.step(func() { buf.WriteString("PASS a\n") })
	if got := read(); got != "PASS a\n" {
		t.Fatalf("before the delay: %q", got)
	}
	clock.add(progressDelay + 500*time.Millisecond)
	ticks()
	if got := read(); got != "\rfaultline run: 1/3 scenarios, 1s" {
		t.Fatalf("after the delay, a tick: %q", got)
	}
	p.step(func() { buf.WriteString("PASS b\n") })
	blank := "\r" + strings.Repeat(" ", len("faultline run: 1/3 scenarios, 1s")) + "\r"
	if got, want := read(), blank+"PASS b\n\rfaultline run: 2/3 scenarios, 1s"; got != want {
		t.Fatalf("a step:\n got %q\nwant %q", got, want)
	}
	ticks() // nothing changed: nothing drawn
	if got := read(); got != "" {
		t.Fatalf("a tick with nothing new: %q", got)
	}
	p.step(nil)
	if got, want := read(), "\rfaultline run: 3/3 scenarios, 1s"; got != want {
		t.Fatalf("a step that prints nothing: %q, want %q", got, want)
	}
	p.end()
	if got := read(); got != blank {
		t.Fatalf("the end: %q, want %q", got, blank)
	}
}

// TestProgressNil: without a terminal there is no progress, and its
// steps still print.
func TestProgressNil(t *testing.T) {
	var buf bytes.Buffer
	p := startProgress(&buf, "faultline run", 2)
	if p != nil {
		t.Fatal("a progress line on a buffer")
	}
	p.step(func() { buf.WriteString("x") })
	p.step(nil)
	p.end()
	if buf.String() != "x" {
		t.Fatalf("%q", buf.String())
	}
}

// TestIsTerminal: a pipe and a file are not terminals; a pseudo-terminal
// is, where one can be opened.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, x := range []*os.File{r, w, f} {
		if isTerminal(x) {
			t.Errorf("%s is a terminal", x.Name())
		}
	}
	if isTerminal(&bytes.Buffer{}) || isTerminal((*os.File)(nil)) {
		t.Error("a buffer or a nil file is a terminal")
	}
	if runtime.GOOS != "linux" {
		return
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("the pseudo-terminal master is not a terminal")
	}
}

// TestNoProgressOffTerminal: a run whose stderr is a file, not a
// terminal, writes no progress line to it, nor does a pipe get one
// (startProgress gives nil for both).
func TestNoProgressOffTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	code := execute([]string{"run", "testdata/pass.fault", "testdata/no-such.fault"}, &out, f)
	errOut, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if code != 2 || !strings.Contains(string(errOut), "no-such.fault") || strings.ContainsAny(string(errOut), "\r\b") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if p := startProgress(f, "x", 1); p != nil {
		p.end()
		t.Error("a progress line on a file")
	}
}
