package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReport: diff's stream in, one page out, with the counts of the
// stream; standard input with -; what is not a stream exits 2 naming
// the line.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	js, _, code := runCLI("diff", "--json", "testdata/pass.fault", "../../scenarios/hwpoison-4k.fault")
	if code != 0 {
		t.Fatalf("diff --json: exit %d", code)
	}
	in := filepath.Join(dir, "diff.json")
	if err := os.WriteFile(in, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "report.html")
	if out, errOut, code := runCLI("report", "-o", page, in); code != 0 || out != "" {
		t.Fatalf("report: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(js, `"type":"difference"`)
	for _, want := range []string{"<h1>faultline report</h1>", `<tr data-rule="poison-as-adrerr">`, `data-count="` + strconv.Itoa(n) + `"`,
		"faultline explain ../../scenarios/hwpoison-4k.fault:7 --arch riscv64 --handler both --kernel 6.18"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	// Standard input.
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetIn(strings.NewReader(js))
	root.SetArgs([]string{"report", "-"})
	if err := root.Execute(); err != nil || !strings.Contains(stdout.String(), `<tr data-rule="poison-as-adrerr">`) || !strings.Contains(stdout.String(), "<code>standard input</code>") {
		t.Errorf("report -: %v\n%.300s", err, stdout.String())
	}

	// Not a stream: the text output, and run's stream.
	text := filepath.Join(dir, "run.txt")
	if err := os.WriteFile(text, []byte("PASS  x86_64   native  cli-pass (3 checks)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runJS, _, _ := runCLI("run", "--json", "testdata/pass.fault")
	runFile := filepath.Join(dir, "run.json")
	if err := os.WriteFile(runFile, []byte(runJS), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI("report", empty); code != 2 || !strings.Contains(errOut, "no conform or diff stream") {
		t.Errorf("report of an empty file: exit %d, stderr %q", code, errOut)
	}
	for path, want := range map[string]string{
		text:                         text + ":1: not a JSON object",
		runFile:                      runFile + ":1: a scenario line of faultline run",
		filepath.Join(dir, "nofile"): "no such file",
	} {
		_, errOut, code := runCLI("report", in, path)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("report %s: exit %d, stderr %q; want 2 and %q", path, code, errOut, want)
		}
	}
}

// TestReportFIFO: a named pipe is refused at once, not waited on.
func TestReportFIFO(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("named pipes as on Linux")
	}
	fifo := filepath.Join(t.TempDir(), "pipe.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var errOut string
	go func() {
		var code int
		_, errOut, code = runCLI("report", fifo)
		done <- code
	}()
	select {
	case code := <-done:
		if code != 2 || !strings.Contains(errOut, "expected a regular file") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("faultline report waited on a named pipe")
	}
}
