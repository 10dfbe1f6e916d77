package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/scenario"
)

// stdinName names the scenario read from standard input ("-" as a PATH)
// in positions and reports.
const stdinName = "<stdin>"

// goStyleFlags rewrites the single-dash long flags Go's tools take (go
// test -run) into the double-dash form cobra parses: -run REGEX and
// -run=REGEX become --run. Arguments after "--" are left alone.
func goStyleFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "-run" || strings.HasPrefix(a, "-run=") {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

// selection is the --run flag of run, conform, diff and list: a regular
// expression, unanchored as go test's -run, that a scenario's name must
// match.
type selection struct {
	pattern string
	re      *regexp.Regexp
}

func (s *selection) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.pattern, "run", "", "only the scenarios whose name matches `REGEX` (also -run, as go test's)")
}

// compile checks the pattern; a bad one is a usage error.
func (s *selection) compile() error {
	if s.pattern == "" {
		s.re = nil
		return nil
	}
	re, err := regexp.Compile(s.pattern)
	if err != nil {
		return &exitError{2, fmt.Sprintf("--run %s: %v", s.pattern, err)}
	}
	s.re = re
	return nil
}

// filter keeps the files whose scenario's name matches. A file that does
// not parse is kept, so that its errors are reported as without --run.
// When nothing is left of files that all parsed, the pattern matched no
// scenario: a usage error, since a run of nothing checks nothing.
func (s *selection) filter(files []source, loadErrs []string) ([]source, error) {
	if s.re == nil {
		return files, nil
	}
	var out []source
	for _, f := range files {
		sc, err := scenario.Parse(f.name, f.src)
		if err != nil || s.re.MatchString(sc.Name) {
			out = append(out, f)
		}
	}
	if len(out) == 0 && len(files) > 0 && len(loadErrs) == 0 {
		return nil, &exitError{2, fmt.Sprintf("--run %s: no scenario of the %s matches", s.pattern, plural(len(files), "file"))}
	}
	return out, nil
}

// loadSelected is what run, conform, diff and list read: the files and
// directories named (or the built-in corpus when there are none), "-"
// standing for one scenario on standard input, then narrowed by sel.
// A path that cannot be read is an error of its own, as loadFiles
// reports it.
func loadSelected(args []string, stdin io.Reader, sel *selection) ([]source, []string, error) {
	if err := sel.compile(); err != nil {
		return nil, nil, err
	}
	var files []source
	var errs []string
	if len(args) == 0 {
		files, errs = loadFiles(nil)
	}
	readStdin := false
	for _, p := range args {
		if p != "-" {
			f, e := loadFiles([]string{p})
			files, errs = append(files, f...), append(errs, e...)
			continue
		}
		if readStdin {
			errs = append(errs, "-: standard input is named twice: it holds one scenario")
			continue
		}
		readStdin = true
		src, err := readScenario(stdin)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		files = append(files, source{stdinName, src})
	}
	files, err := sel.filter(files, errs)
	return files, errs, err
}

// readScenario reads standard input within the language's size limit.
func readScenario(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("%s: no standard input", stdinName)
	}
	src, err := io.ReadAll(io.LimitReader(r, scenario.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", stdinName, err)
	}
	if len(src) > scenario.MaxFileSize {
		return nil, fmt.Errorf("%s: expected a scenario of at most %d bytes, found more", stdinName, scenario.MaxFileSize)
	}
	return src, nil
}

// listed is one scenario as list prints it.
type listed struct {
	Name   string   `json:"name"`
	File   string   `json:"file"`
	Line   int      `json:"line"`
	About  string   `json:"about,omitempty"`
	Arches []string `json:"arches,omitempty"`
}

func newListCmd(stdout, stderr io.Writer) *cobra.Command {
	var sel selection
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [PATH...] [-run REGEX]",
		Short: "List scenarios: their names, files and what each is about",
		Long: `List the scenarios of the files named, of every .fault file under the
directories named, or of the corpus built into the binary: one line per
scenario with its name, its file and its about text. -run REGEX (or
--run) keeps the scenarios whose name matches, as it does for run,
conform and diff; "-" as a PATH reads one scenario from standard input.
--json prints one JSON object per scenario, one per line, with name,
file, line, about and arches (absent: every arch).

Exit status: 0, or 2 when a file has errors (the others are listed) or
-run matches nothing.`,
		Example: `  faultline list -run '^uffd-'
  faultline list --json scenarios/ | jq -r .file`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, loadErrs, err := loadSelected(args, cmd.InOrStdin(), &sel)
			if err != nil {
				return err
			}
			for _, e := range loadErrs {
				fmt.Fprintln(stderr, e)
			}
			bad := len(loadErrs)
			var out []listed
			var errs []string
			for _, f := range files {
				s := parseOrReport(f, false, stderr, &errs)
				if s == nil {
					bad++
					continue
				}
				out = append(out, listed{Name: s.Name, File: f.name, Line: s.Pos.Line, About: s.About, Arches: s.Arches})
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetEscapeHTML(false)
				for _, l := range out {
					if err := enc.Encode(l); err != nil {
						return err
					}
				}
			} else {
				tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
				for _, l := range out {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, l.File, l.About)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if bad > 0 {
				return &exitError{2, plural(bad, "file") + " with errors"}
			}
			return nil
		},
	}
	sel.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per scenario, one per line")
	return cmd
}

// loadErrors starts a conform summary with the paths that could not be
// read, counted and printed as run counts and prints them: to stderr, or
// in the JSON's file errors, and each is a test of the KTAP output.
func loadErrors(loadErrs []string, asJSON bool, kt *ktapWriter, stderr io.Writer) (conformSummary, []string) {
	sum := conformSummary{SkipReasons: map[string]int{}}
	fileErrs := []string{}
	for _, e := range loadErrs {
		sum.FileErrors++
		fileErrs = append(fileErrs, e)
		kt.fileError(loadErrorPath(e), []string{e})
		if !asJSON {
			fmt.Fprintln(stderr, e)
		}
	}
	return sum, fileErrs
}
