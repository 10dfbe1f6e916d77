//go:build linux

package host

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "embed"

	"github.com/faultline/faultline/timeout"
)

//go:embed executor.c
var executorSource []byte

// ErrPending is returned by Actor.Do and Actor.Reply when no reply came
// within the timeout: the command is still running (blocked, for instance in
// a userfaultfd wait). Collect its reply later with Actor.Reply.
var ErrPending = errors.New("host: no reply yet: the command is still running")

// ErrGone is returned when an actor's connection closed: its process died
// (or exited) or its thread ended. A command sent to it will never reply.
var ErrGone = errors.New("host: the actor's connection closed")

// Bounds of the client itself: safety nets, each multiplied by the scale
// of the context Start was given (timeout.FromContext), else
// FAULTLINE_TIMEOUT_SCALE's.
const (
	startTimeout   = 10 * time.Second // Start, when ctx has no deadline
	helloTimeout   = 10 * time.Second // a new connection must say hello within this
	closeMainWait  = 5 * time.Second  // Close: how long main may take to die
	closeDrainWait = 2 * time.Second  // Close: how long goroutines may take to end
	// writeTimeout bounds sending one command line. It is its own bound,
	// not Do's reply timeout: that one may be a few milliseconds (a poll
	// for an early reply), which a write on a loaded machine can miss.
	writeTimeout = 10 * time.Second
	goneWait     = time.Second // Do: how long the reader may take to see a peer's end
	maxLine      = 4096        // longest line accepted from the executor
	replyBuffer  = 8           // replies buffered per actor
)

// compileFlags are the C compiler flags of Build (without -Werror, so a
// newer compiler's new warning cannot break a run; the package's tests
// build with -Werror).
var compileFlags = []string{"-std=gnu11", "-O1", "-Wall", "-Wextra", "-pthread"}

// Build compiles the embedded executor with the C compiler ($CC, which may
// carry arguments, else cc, else gcc) and returns its path. The binary
// runs with the caller's privileges (root, for conform), so a previous
// build is reused only where no one else can have put or changed it:
//
//   - in the cache directory os.UserCacheDir()/faultline (made 0700),
//     named executor-<first 16 hex digits of the source's SHA-256>, when
//     that directory and every one above it (symbolic links resolved) are
//     owned by the running user or root and writable by neither group nor
//     others, the binary is a regular file with the same owners and modes,
//     and its SHA-256 is the one recorded next to it (executor-<hash>.sha256)
//     when it was built. Anything else there is rebuilt in place.
//   - with no cache directory (HOME unset) or an untrusted one, never: the
//     binary is built into a fresh private temporary directory (0700,
//     faultline-host-build-*), which RemoveBuild removes (or, if this
//     process is killed, a later run's CleanLeftovers). A shared temporary
//     directory is never searched for a build.
//
// Concurrent builds are safe: the binary is renamed into place.
func Build(ctx context.Context) (path string, err error) {
	sum := sha256.Sum256(executorSource)
	name := "executor-" + hex.EncodeToString(sum[:])[:16]
	if dir, ok := cacheDir(); ok {
		path = filepath.Join(dir, name)
		if trustedBuild(path) {
			return path, nil
		}
		if err := compileInto(ctx, dir, path); err == nil {
			return path, nil
		}
		// The cache is usable but building there failed: try privately,
		// which reports the compiler's error if it is the compiler.
	}
	dir, err := makeTemp("build-")
	if err != nil {
		return "", fmt.Errorf("host: build executor: %w", err)
	}
	tempBuilds.Store(dir, true)
	path = filepath.Join(dir, name)
	if err := compileInto(ctx, dir, path); err != nil {
		RemoveBuild(path)
		return "", err
	}
	return path, nil
}

// tempBuilds holds the private build directories Build made.
var tempBuilds sync.Map

// RemoveBuild removes the private temporary directory Build made for the
// binary at path, if it made one; a cached binary stays.
func RemoveBuild(path string) error {
	dir := filepath.Dir(path)
	if _, ok := tempBuilds.LoadAndDelete(dir); !ok {
		return nil
	}
	return os.RemoveAll(dir)
}

// cacheDir returns os.UserCacheDir()/faultline, made 0700 if missing,
// when it can be trusted: see Build.
func cacheDir() (string, bool) {
	cache, err := os.UserCacheDir()
	if err != nil || !filepath.IsAbs(cache) {
		return "", false
	}
	dir := filepath.Join(cache, "faultline")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false
	}
	return real, trustedPath(real, os.Lstat) == nil
}

// TrustedDir checks that path and every directory above it are
// directories owned by the running user or root that neither group nor
// others can write: nothing in it can have been put or changed by another
// user.
func TrustedDir(path string) error { return trustedPath(path, os.Lstat) }

// trustedPath checks that path and every directory above it are
// directories owned by the running user or root that neither group nor
// others can write (so that no one else can add, replace or rename
// anything on the way). lstat is os.Lstat (a parameter for tests).
func trustedPath(path string, lstat func(string) (os.FileInfo, error)) error {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
		if err := trustedMode(p, fi); err != nil {
			return err
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// trustedMode checks fi's owner (the running user or root) and that
// neither group nor others can write it.
func trustedMode(p string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner", p)
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("%s is owned by uid %d", p, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (%v)", p, fi.Mode().Perm())
	}
	return nil
}

// trustedBuild reports whether the binary at path, in a trusted
// directory, may be run: a regular file of the right owner and mode whose
// SHA-256 is the one recorded at its build.
func trustedBuild(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o100 == 0 || trustedMode(path, fi) != nil {
		return false
	}
	want, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return false
	}
	got, err := fileSum(path)
	return err == nil && strings.TrimSpace(string(want)) == got
}

// fileSum is the SHA-256 of a file's contents, in hex.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compileInto compiles the executor in a build directory inside dir and
// renames it to path, with its SHA-256 recorded in path.sha256.
func compileInto(ctx context.Context, dir, path string) error {
	cc, err := compiler()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "executor.c"), executorSource, 0o600); err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	args := append(append(append([]string{}, cc[1:]...), compileFlags...), "-o", "executor", "executor.c")
	cmd := exec.CommandContext(ctx, cc[0], args...)
	cmd.Dir = tmp
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("host: build executor: %s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(msg))
	}
	out := filepath.Join(tmp, "executor")
	if err := os.Chmod(out, 0o755); err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	sum, err := fileSum(out)
	if err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	if err := os.WriteFile(out+".sha256", []byte(sum+"\n"), 0o644); err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	// The sum first: a reader that sees the new binary with the old sum
	// rebuilds; one that sees the new sum with the old binary does too.
	if err := os.Rename(out+".sha256", path+".sha256"); err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	if err := os.Rename(out, path); err != nil {
		return fmt.Errorf("host: build executor: %w", err)
	}
	return nil
}

// compiler returns the C compiler command: $CC split into words, else cc,
// else gcc.
func compiler() ([]string, error) {
	if f := strings.Fields(os.Getenv("CC")); len(f) > 0 {
		return f, nil
	}
	for _, name := range []string{"cc", "gcc"} {
		if p, err := exec.LookPath(name); err == nil {
			return []string{p}, nil
		}
	}
	return nil, errors.New("host: no C compiler: set $CC or install cc or gcc")
}

// Executor is one running executor: one scenario run on the host.
type Executor struct {
	root string // private temporary directory: sock, stderr, dir
	dir  string // DIR: the scenario's files
	cmd  *exec.Cmd
	ln   *net.UnixListener
	logf *os.File
	pid  int // main's process id

	// The watchdog (executor --watchdog) leads the run's process group:
	// pgid is its pid. lifeline is the write end of the pipe whose read
	// end it holds: when this process closes it or dies, the watchdog
	// kills the group.
	watch     *exec.Cmd
	pgid      int
	lifeline  *os.File
	watchDone chan struct{} // closed when the watchdog has been reaped

	scale timeout.Scale // multiplies the client's own bounds

	mainDone chan struct{} // closed when main has been reaped
	mainWS   syscall.WaitStatus

	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	closed  bool
	actors  map[string]*Actor
	exits   map[int]syscall.WaitStatus
	conns   map[*net.UnixConn]struct{}
	changed chan struct{} // closed and replaced when actors or exits change
}

// Start creates a private temporary directory (marked with this process
// as its owner, so that a later run can remove it if this one is killed)
// and socket, starts the executor bin's watchdog as the leader of a new
// process group, then bin itself in that group, and returns when actor main
// has said hello. ctx bounds the start (10 s when it has no deadline); it
// does not bound the executor's life, which ends with Close, or with this
// process: the watchdog kills the group when this process dies, even of
// SIGKILL.
func Start(ctx context.Context, bin string) (*Executor, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout.FromContext(ctx).Of(startTimeout))
		defer cancel()
	}
	base, err := ScratchBase()
	if err != nil {
		return nil, err
	}
	root, err := makeTempIn(base, "")
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	e := &Executor{
		root:      root,
		dir:       filepath.Join(root, "dir"),
		scale:     timeout.FromContext(ctx),
		mainDone:  make(chan struct{}),
		watchDone: make(chan struct{}),
		done:      make(chan struct{}),
		actors:    map[string]*Actor{},
		exits:     map[int]syscall.WaitStatus{},
		conns:     map[*net.UnixConn]struct{}{},
		changed:   make(chan struct{}),
	}
	fail := func(err error) (*Executor, error) {
		e.Close()
		return nil, err
	}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		return fail(fmt.Errorf("host: %w", err))
	}
	sock := filepath.Join(root, "sock")
	if len(sock) >= 108 {
		return fail(fmt.Errorf("host: socket path %s is too long for a Unix socket (set TMPDIR)", sock))
	}
	e.ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return fail(fmt.Errorf("host: %w", err))
	}
	e.logf, err = os.Create(filepath.Join(root, "stderr"))
	if err != nil {
		return fail(fmt.Errorf("host: %w", err))
	}
	e.wg.Add(1)
	go e.acceptLoop()

	if err := e.startWatchdog(bin); err != nil {
		close(e.mainDone)
		return fail(err)
	}
	e.cmd = exec.Command(bin, sock, e.dir)
	e.cmd.Dir = e.dir
	// The executor scales its own bound (connect retries) as this side does.
	e.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%g", timeout.EnvVar, e.scale.Factor()))
	e.cmd.Stdout = e.logf // *os.File: Wait does not wait for a copy
	e.cmd.Stderr = e.logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: e.pgid}
	if err := e.cmd.Start(); err != nil {
		close(e.mainDone)
		// Joining the group fails once its leader is gone: say why it went.
		select {
		case <-e.watchDone:
			return fail(fmt.Errorf("host: the executor's watchdog exited (%s) before main started: %s", e.watch.ProcessState, e.Log()))
		case <-time.After(100 * time.Millisecond):
		}
		return fail(fmt.Errorf("host: start executor: %w", err))
	}
	e.pid = e.cmd.Process.Pid
	go func() {
		e.cmd.Wait()
		if st := e.cmd.ProcessState; st != nil {
			if ws, ok := st.Sys().(syscall.WaitStatus); ok {
				e.mainWS = ws
			}
		}
		close(e.mainDone)
	}()

	for {
		e.mu.Lock()
		a, ch := e.actors["main"], e.changed
		e.mu.Unlock()
		if a != nil {
			return e, nil
		}
		select {
		case <-ch:
		case <-e.mainDone:
			e.mu.Lock()
			a = e.actors["main"] // it may have said hello, then died
			e.mu.Unlock()
			if a != nil {
				return e, nil
			}
			ws := e.mainWS
			return fail(fmt.Errorf("host: executor exited (%s) before saying hello: %s", describe(ws), e.Log()))
		case <-ctx.Done():
			return fail(fmt.Errorf("host: executor did not say hello: %w: %s", ctx.Err(), e.Log()))
		}
	}
}

// startWatchdog starts `bin --watchdog` as the leader of a new process
// group, the run's, with the read end of a pipe as its descriptor 3 and
// the write end kept here (os.Pipe makes both close-on-exec, so no other
// child inherits it; ExtraFiles passes the read end alone). This process's
// death, however it comes, closes the write end: the watchdog reads EOF and
// SIGKILLs the group. The watchdog is started before main, so no executor
// process is ever without one; main and every process it forks are in the
// group, and none of them is the watchdog's parent or child (see
// executor.c, watchdog).
func (e *Executor) startWatchdog(bin string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("host: start watchdog: %w", err)
	}
	defer r.Close()
	e.lifeline = w
	e.watch = exec.Command(bin, "--watchdog")
	e.watch.Dir = "/"
	e.watch.Stdout = e.logf
	e.watch.Stderr = e.logf
	e.watch.ExtraFiles = []*os.File{r}
	e.watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.watch.Start(); err != nil {
		close(e.watchDone)
		return fmt.Errorf("host: start watchdog: %w", err)
	}
	e.pgid = e.watch.Process.Pid
	go func() {
		e.watch.Wait()
		close(e.watchDone)
	}()
	return nil
}

// describe formats a wait status.
func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d", int(ws.Signal()))
	}
	return fmt.Sprintf("wait status %#x", int(ws))
}

// Dir returns DIR, the private directory the scenario's files live in.
func (e *Executor) Dir() string { return e.dir }

// PID returns the process id of actor main.
func (e *Executor) PID() int { return e.pid }

// PGID returns the run's process group: every executor process, and the
// watchdog, which leads it.
func (e *Executor) PGID() int { return e.pgid }

// Log returns what the executor wrote to its standard output and error
// (at most the last 4 KiB), for diagnostics.
func (e *Executor) Log() string {
	b, err := os.ReadFile(filepath.Join(e.root, "stderr"))
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

// notify wakes everyone waiting for a change; e.mu must be held.
func (e *Executor) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// track records a connection so that Close can close it; false when the
// executor is already closed.
func (e *Executor) track(c *net.UnixConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *Executor) acceptLoop() {
	defer e.wg.Done()
	for {
		c, err := e.ln.AcceptUnix()
		if err != nil {
			return // closed (or broken beyond use)
		}
		if !e.track(c) {
			c.Close()
			return
		}
		e.wg.Add(1)
		go e.handshake(c)
	}
}

// errLongLine: the executor broke the protocol with an overlong line.
var errLongLine = fmt.Errorf("executor sent a line longer than %d bytes", maxLine)

// readLine reads one line, without its '\n'.
func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", errLongLine
	}
	if err != nil {
		return "", err
	}
	return string(b[:len(b)-1]), nil
}

// handshake reads a new connection's hello and routes it.
func (e *Executor) handshake(c *net.UnixConn) {
	defer e.wg.Done()
	br := bufio.NewReaderSize(c, maxLine)
	c.SetReadDeadline(time.Now().Add(e.scale.Of(helloTimeout)))
	line, err := readLine(br)
	c.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	var pid, tid int
	if err == nil && len(f) == 4 && f[0] == "hello" {
		pid, err = strconv.Atoi(f[2])
		if err == nil {
			tid, err = strconv.Atoi(f[3])
		}
	} else if err == nil {
		err = fmt.Errorf("bad hello %q", line)
	}
	if err != nil {
		c.Close()
		return
	}
	if f[1] == "@waiter" {
		e.waiterLoop(c, br)
		return
	}
	a := &Actor{
		Name:    f[1],
		PID:     pid,
		TID:     tid,
		conn:    c,
		scale:   e.scale,
		replies: make(chan item, replyBuffer),
		gone:    make(chan struct{}),
	}
	e.mu.Lock()
	e.actors[a.Name] = a
	e.notify()
	e.mu.Unlock()
	a.readLoop(e.done, br)
}

// waiterLoop reads a waiter's "exited CHILDPID STATUS".
func (e *Executor) waiterLoop(c *net.UnixConn, br *bufio.Reader) {
	defer c.Close()
	for {
		line, err := readLine(br)
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "exited" {
			continue
		}
		pid, err1 := strconv.Atoi(f[1])
		st, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			continue
		}
		e.mu.Lock()
		e.exits[pid] = syscall.WaitStatus(st)
		e.notify()
		e.mu.Unlock()
	}
}

// Actor waits up to timeout for the hello of actor name and returns it.
// Actor names should be unique in a run: a name that says hello again
// (a second fork with the same name) refers to the latest one from then on.
func (e *Executor) Actor(name string, timeout time.Duration) (*Actor, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		e.mu.Lock()
		a, ch, closed := e.actors[name], e.changed, e.closed
		e.mu.Unlock()
		if a != nil {
			return a, nil
		}
		if closed {
			return nil, errors.New("host: executor closed")
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("host: actor %s did not say hello within %v", name, timeout)
		}
	}
}

// ExitStatus returns the wait status of process pid, waiting up to timeout:
// main's (reaped by this package), or a forked actor's (reported by its
// parent's waiter thread). ok is false when it is not known in time (still
// running, or its parent died first, or SIGCHLD was ignored).
func (e *Executor) ExitStatus(pid int, timeout time.Duration) (ws syscall.WaitStatus, ok bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if pid == e.pid {
		select {
		case <-e.mainDone:
			return e.mainWS, true
		case <-timer.C:
			return 0, false
		}
	}
	for {
		e.mu.Lock()
		ws, ok := e.exits[pid]
		ch := e.changed
		e.mu.Unlock()
		if ok {
			return ws, true
		}
		select {
		case <-ch:
		case <-timer.C:
			return 0, false
		}
	}
}

// Close kills the executor's whole process group with SIGKILL (the
// watchdog with it), reaps main and the watchdog, closes every connection
// and removes the private directory. It is idempotent and bounded (a few
// seconds even for a process that cannot die, which it reports as an
// error).
func (e *Executor) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.notify()
		conns := make([]*net.UnixConn, 0, len(e.conns))
		for c := range e.conns {
			conns = append(conns, c)
		}
		e.mu.Unlock()
		close(e.done)
		if e.pgid > 0 {
			syscall.Kill(-e.pgid, syscall.SIGKILL)
		}
		if e.lifeline != nil {
			e.lifeline.Close() // the watchdog kills the group too
		}
		if e.pgid > 0 {
			wait := e.scale.Of(closeMainWait)
			deadline := time.Now().Add(wait)
			for _, p := range []struct {
				what string
				pid  int
				done chan struct{}
			}{{"executor", e.pid, e.mainDone}, {"watchdog", e.pgid, e.watchDone}} {
				if p.pid <= 0 {
					continue
				}
				select {
				case <-p.done:
				case <-time.After(time.Until(deadline)):
					if e.closeErr == nil {
						e.closeErr = fmt.Errorf("host: %s %d did not die within %v of SIGKILL", p.what, p.pid, wait)
					}
				}
			}
		}
		if e.ln != nil {
			e.ln.Close()
		}
		for _, c := range conns {
			c.Close()
		}
		drained := make(chan struct{})
		go func() { e.wg.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(e.scale.Of(closeDrainWait)):
			if e.closeErr == nil {
				e.closeErr = errors.New("host: connection goroutines did not end")
			}
		}
		// Connections accepted after the snapshot were refused by track.
		if e.logf != nil {
			e.logf.Close()
		}
		if err := os.RemoveAll(e.root); err != nil && e.closeErr == nil {
			e.closeErr = fmt.Errorf("host: %w", err)
		}
	})
	return e.closeErr
}

// Actor is one actor's connection: main, a thread or a forked child. One
// command at a time: Do sends a command and waits for its reply; a command
// still pending after Do's timeout is collected with Reply.
type Actor struct {
	Name     string
	PID, TID int // from its hello

	conn    *net.UnixConn
	scale   timeout.Scale // multiplies writeTimeout and goneWait
	replies chan item
	gone    chan struct{} // closed when the connection has ended

	mu      sync.Mutex
	pending bool
}

// item is one line read from an actor, or the error that ended reading.
type item struct {
	line string
	err  error
}

func (a *Actor) readLoop(done <-chan struct{}, br *bufio.Reader) {
	defer close(a.gone)
	defer a.conn.Close()
	for {
		line, err := readLine(br)
		if err != nil {
			// The end of the connection (EOF, ECONNRESET when the
			// process died with a command unread, closed by Close)
			// is not an error: it is what ErrGone means.
			if err == errLongLine {
				select {
				case a.replies <- item{err: err}:
				default:
				}
			}
			return
		}
		select {
		case a.replies <- item{line: line}:
		case <-done:
			return
		}
	}
}

// Do sends one command (a line of PROTOCOL.md, without '\n') and waits up
// to timeout for its reply, counted from when the command was sent (the
// send has its own, generous bound, so a short timeout is only a poll for
// an early reply). ErrPending means no reply yet: the command is still
// running; collect its reply later with Reply (Do refuses a new command
// meanwhile). ErrGone means the connection closed before a reply: that is
// also how a successful `exit` ends.
func (a *Actor) Do(cmd string, timeout time.Duration) (Reply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending {
		return Reply{}, fmt.Errorf("host: actor %s: the previous command is still pending (collect it with Reply)", a.Name)
	}
	if strings.ContainsAny(cmd, "\n\x00") {
		return Reply{}, fmt.Errorf("host: command %q contains a newline or NUL", cmd)
	}
	select {
	case <-a.gone:
		return Reply{}, ErrGone
	default:
	}
	a.conn.SetWriteDeadline(time.Now().Add(a.scale.Of(writeTimeout)))
	if _, err := a.conn.Write([]byte(cmd + "\n")); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
			// The peer is gone: let the reader see the end too, so
			// that Gone agrees (it comes at once; bounded anyway).
			timer := time.NewTimer(a.scale.Of(goneWait))
			defer timer.Stop()
			select {
			case <-a.gone:
			case <-timer.C:
			}
			return Reply{}, ErrGone
		}
		return Reply{}, fmt.Errorf("host: actor %s: send %q: %w", a.Name, cmd, err)
	}
	a.pending = true
	return a.wait(time.Now().Add(timeout))
}

// Reply waits up to timeout for the reply of the command that an earlier
// Do left pending (ErrPending).
func (a *Actor) Reply(timeout time.Duration) (Reply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.pending {
		return Reply{}, fmt.Errorf("host: actor %s: no command pending", a.Name)
	}
	return a.wait(time.Now().Add(timeout))
}

// Gone reports whether the actor's connection has closed.
func (a *Actor) Gone() bool {
	select {
	case <-a.gone:
		return true
	default:
		return false
	}
}

// wait waits for the pending command's reply; a.mu is held.
func (a *Actor) wait(deadline time.Time) (Reply, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	got := func(it item) (Reply, error) {
		a.pending = false
		if it.err != nil {
			return Reply{}, fmt.Errorf("host: actor %s: %w", a.Name, it.err)
		}
		return ParseReply(it.line)
	}
	select {
	case it := <-a.replies:
		return got(it)
	case <-a.gone:
		select {
		case it := <-a.replies: // a reply that came before the end
			return got(it)
		default:
		}
		a.pending = false
		return Reply{}, ErrGone
	case <-timer.C:
		return Reply{}, ErrPending
	}
}

// Reply is one reply line of the executor, parsed.
type Reply struct {
	Kind  string        // "ok", "err", "sig", "event" or "proto"
	Vals  []uint64      // ok: the values after "ok" (none, one, or two for faults)
	Errno syscall.Errno // err
	Signo int           // sig: si_signo
	Code  int           // sig: si_code (negative for SI_USER-like codes)
	Addr  uint64        // sig: si_addr; event: the fault address
	LSB   int           // sig: si_addr_lsb
	Flags uint64        // event: pagefault flags (WRITE=1, WP=2, MINOR=4)
	Text  string        // proto: the message
	Line  string        // the line as received
}

// String returns the reply line.
func (r Reply) String() string { return r.Line }

// ParseReply parses one reply line of PROTOCOL.md.
func ParseReply(line string) (Reply, error) {
	r := Reply{Line: line}
	f := strings.Fields(line)
	bad := func() (Reply, error) { return Reply{}, fmt.Errorf("host: malformed reply %q", line) }
	if len(f) == 0 {
		return bad()
	}
	r.Kind = f[0]
	switch r.Kind {
	case "ok":
		for _, s := range f[1:] {
			v, err := parseUint(s)
			if err != nil {
				return bad()
			}
			r.Vals = append(r.Vals, v)
		}
	case "err":
		if len(f) != 2 {
			return bad()
		}
		v, err := parseUint(f[1])
		if err != nil || v > 1<<16 {
			return bad()
		}
		r.Errno = syscall.Errno(v)
	case "sig":
		if len(f) != 5 {
			return bad()
		}
		var err [4]error
		r.Signo, err[0] = strconv.Atoi(f[1])
		r.Code, err[1] = strconv.Atoi(f[2])
		r.Addr, err[2] = parseUint(f[3])
		r.LSB, err[3] = strconv.Atoi(f[4])
		if errors.Join(err[:]...) != nil {
			return bad()
		}
	case "event":
		if len(f) != 3 {
			return bad()
		}
		var err1, err2 error
		r.Addr, err1 = parseUint(f[1])
		r.Flags, err2 = parseUint(f[2])
		if err1 != nil || err2 != nil {
			return bad()
		}
	case "proto":
		r.Text = strings.TrimSpace(strings.TrimPrefix(line, "proto"))
	default:
		return bad()
	}
	return r, nil
}

// parseUint parses a protocol number: 0x hex or decimal.
func parseUint(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		return strconv.ParseUint(h, 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}
