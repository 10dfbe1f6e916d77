package runner

import (
	"os"
	"regexp"
	"testing"

	"github.com/faultline/faultline/machine"
	"github.com/faultline/faultline/scenario"
	"github.com/faultline/faultline/scenarios"
)

// corpusRuns parses the corpus and lists its runs: every scenario on
// every arch it runs on, with both handlers.
func corpusRuns(tb testing.TB, match *regexp.Regexp) []corpusRun {
	var out []corpusRun
	for _, f := range scenarios.All() {
		s, err := scenario.Parse(f.Name, f.Src)
		if err != nil {
			tb.Fatal(err)
		}
		if match != nil && !match.MatchString(s.Name) {
			continue
		}
		run, _ := Arches(s, "")
		for _, a := range run {
			for _, h := range machine.Handlers() {
				out = append(out, corpusRun{s, a, h})
			}
		}
	}
	return out
}

type corpusRun struct {
	s    *scenario.Scenario
	arch string
	h    machine.Handler
}

// BenchmarkRunCorpus runs the whole corpus, one run at a time, and
// reports runs per second (FAULTLINE_BENCH_RUN, a regular expression,
// narrows it to the scenarios whose name matches).
func BenchmarkRunCorpus(b *testing.B) {
	var match *regexp.Regexp
	if re := os.Getenv("FAULTLINE_BENCH_RUN"); re != "" {
		match = regexp.MustCompile(re)
	}
	runs := corpusRuns(b, match)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range runs {
			if rep := Run(r.s, r.arch, Options{Handler: r.h}); rep.Status != Pass && rep.Status != Skip {
				b.Fatalf("%s %s %s: %v %s", r.s.Name, r.arch, r.h, rep.Status, rep.Reason)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(runs))/b.Elapsed().Seconds(), "runs/s")
}
