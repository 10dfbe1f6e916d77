//go:build unix

package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/stream"
	"github.com/faultline/faultline/timeout"
)

// browsers are the names a Chromium goes by (Debian's chromium package,
// other distributions', Google's build).
var browsers = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"}

// findBrowser returns a headless-capable browser on PATH, or skips the
// test saying why.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, b := range browsers {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Skipf("no browser to load the page in: none of %s is on PATH (Debian: apt-get install chromium; .ci/run installs it)", strings.Join(browsers, ", "))
	return ""
}

// consoleLine is a message of the page's console as Chromium logs it
// with --enable-logging=stderr: [pid:tid:time:INFO:CONSOLE:LINE] "msg", source: URL (LINE).
var consoleLine = regexp.MustCompile(`:CONSOLE[:(][^\]]*\] (.*)`)

// load loads the HTML page in a headless browser and returns the DOM
// once the page has loaded and its script has run (--dump-dom), and what
// the page wrote to its console (script errors, CSP violations). The
// wait is bounded: past it, the browser's process group is killed.
func load(t *testing.T, page []byte) (dom string, console []string) {
	t.Helper()
	browser := findBrowser(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	scale, err := timeout.Env()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scale.Of(90*time.Second))
	defer cancel()
	args := []string{"--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + path}
	if os.Geteuid() == 0 {
		args = append([]string{"--no-sandbox"}, args...) // Chromium refuses root without it
	}
	cmd := exec.CommandContext(ctx, browser, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "HOME="+dir) // nothing of the user's profile
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v: killed\n%s", browser, scale.Of(90*time.Second), errb.String())
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, errb.String())
	}
	t.Logf("%s loaded the page (%d bytes) in %v", browser, len(page), time.Since(start).Round(time.Millisecond))
	for _, l := range strings.Split(errb.String(), "\n") {
		if m := consoleLine.FindStringSubmatch(l); m != nil {
			console = append(console, m[1])
		}
	}
	return out.String(), console
}

// TestBrowserRenders loads the sample page in headless Chromium: its
// script runs to its end without an error, and the page shows the counts
// it was given, including the totals its script adds.
func TestBrowserRenders(t *testing.T) {
	var b bytes.Buffer
	if err := samplePage(t).Write(&b); err != nil {
		t.Fatal(err)
	}
	dom, console := load(t, b.Bytes())
	if len(console) > 0 {
		t.Errorf("the page wrote to its console:\n%s", strings.Join(console, "\n"))
	}
	root := regexp.MustCompile(`<html[^>]*>`).FindString(dom)
	if !strings.Contains(root, `data-ready="1"`) || strings.Contains(root, "data-script-error") {
		t.Fatalf("the script did not run to its end without errors: %s", root)
	}
	for i, s := range []conformSample{hostX86, guestArm} {
		for _, class := range stream.ClassNames {
			if got := cell(dom, fmt.Sprintf("conform-%d", i), class); got != fmt.Sprint(s.classes[class]) {
				t.Errorf("%s: %s shows %s, want %d", s.host.Arch, class, got, s.classes[class])
			}
		}
	}
	// The total row the script adds under the matrix.
	total := regexp.MustCompile(`(?s)<tr class="total">.*?</tr>`).FindString(dom)
	for _, class := range stream.ClassNames {
		want := hostX86.classes[class] + guestArm.classes[class]
		if !strings.Contains(total, fmt.Sprintf(`data-class="%s" data-total="%d">%d<`, class, want, want)) {
			t.Errorf("the total row lacks %s = %d: %s", class, want, total)
		}
	}
	// The toolbar counts the folded blocks.
	blocks := strings.Count(b.String(), `<details class="item"`)
	if !strings.Contains(dom, fmt.Sprintf(`<span id="shown" class="muted">%d blocks</span>`, blocks)) {
		t.Errorf("the toolbar does not count %d blocks", blocks)
	}
	// The diff matrix and its explain commands are there as given.
	for _, want := range []string{`<td class="n" data-count="2">2</td>`, `faultline explain scenarios/mystery.fault:10 --arch arm64 --handler both --kernel 6.18`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestBrowserCatchesScriptErrors: the checks above see a script error,
// on the document and on the console (else they could not fail).
func TestBrowserCatchesScriptErrors(t *testing.T) {
	var b bytes.Buffer
	if err := samplePage(t).Write(&b); err != nil {
		t.Fatal(err)
	}
	const ready = `doc.documentElement.setAttribute("data-ready", "1");`
	if !bytes.Contains(b.Bytes(), []byte(ready)) {
		t.Fatal("the page's script no longer marks the document ready")
	}
	broken := bytes.Replace(b.Bytes(), []byte(ready), []byte("noSuchFunction();"), 1)
	dom, console := load(t, broken)
	root := regexp.MustCompile(`<html[^>]*>`).FindString(dom)
	if strings.Contains(root, "data-ready") || !strings.Contains(root, `data-script-errors="1"`) || !strings.Contains(root, "noSuchFunction") {
		t.Errorf("the error is not on the document: %s", root)
	}
	if len(console) != 1 || !strings.Contains(console[0], "ReferenceError: noSuchFunction is not defined") {
		t.Errorf("console %q, want the ReferenceError", console)
	}
}
