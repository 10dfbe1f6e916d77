package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiler writes Go profiles of faultline itself (--cpuprofile,
// --memprofile) for `go tool pprof`: where a run, a conform or a bench
// spends the model's time, without a test harness around it.
type profiler struct {
	cpuPath, memPath string
	cpu              *os.File
}

func (p *profiler) flags(root *cobra.Command) {
	root.PersistentFlags().StringVar(&p.cpuPath, "cpuprofile", "", "write a CPU profile of faultline to `FILE` (for go tool pprof)")
	root.PersistentFlags().StringVar(&p.memPath, "memprofile", "", "write a heap allocation profile of faultline to `FILE` at exit")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return p.start() }
}

func (p *profiler) start() error {
	if p.cpuPath == "" {
		return nil
	}
	f, err := os.Create(p.cpuPath)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("--cpuprofile: %v", err)}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return &exitError{code: 2, msg: fmt.Sprintf("--cpuprofile: %v", err)}
	}
	p.cpu = f
	return nil
}

// stop ends the profiles; it runs however the command ended.
func (p *profiler) stop() error {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %v", err)
		}
		p.cpu = nil
	}
	if p.memPath != "" {
		f, err := os.Create(p.memPath)
		if err != nil {
			return fmt.Errorf("--memprofile: %v", err)
		}
		runtime.GC()
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--memprofile: %v", err)
		}
	}
	return nil
}
