package bench_test

import (
	"fmt"

	"github.com/faultline/faultline/bench"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/machine"
)

// Each workload, run on a modeled x86_64 machine, takes one fault per op,
// as the tasks' fault counters count them.
func ExampleModel_Run() {
	m := bench.Model{Arch: "x86_64", Handler: machine.Generic, Config: config.Default()}
	for _, w := range bench.Workloads(2) {
		s, err := m.Run(w, 100)
		if err != nil {
			fmt.Println(w.Name, err)
			continue
		}
		fmt.Printf("%s: %d faults for %d ops\n", w.Name, s.Faults, s.Ops)
	}
	// Output:
	// anon-write: 100 faults for 100 ops
	// cow-fork: 100 faults for 100 ops
	// file-read-cached: 100 faults for 100 ops
	// uffd-missing: 100 faults for 100 ops
	// threads-1: 100 faults for 100 ops
	// threads-2: 100 faults for 100 ops
	// procs-2: 100 faults for 100 ops
}

// Summarize gives the minimum, the median and the maximum of the runs'
// rates; Ratio divides two summaries field by field.
func ExampleSummarize() {
	model := bench.Summarize([]float64{300, 100, 200})
	host := bench.Summarize([]float64{400, 100, 100, 200})
	fmt.Printf("model %+v\nhost %+v\nmodel/host %+v\n", model, host, bench.Ratio(model, host))
	// Output:
	// model {Min:100 Median:200 Max:300}
	// host {Min:100 Median:150 Max:400}
	// model/host {Min:1 Median:1.3333333333333333 Max:0.75}
}
