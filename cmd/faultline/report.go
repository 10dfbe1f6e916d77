package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/report"
)

func newReportCmd(stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report [FILE...|-]",
		Short: "Write one HTML page from conform and diff JSON streams",
		Long: `Read the JSON streams of faultline conform --json (this machine's kernel,
or a guest's with --arch) and faultline diff --json, from the files named
or, without one or with -, from standard input, and write one
self-contained HTML page (its CSS and script inline, nothing fetched):
a summary first — per arch and kernel the agreement matrix, with the
classes conform counts (agree, model wrong, expectation wrong, generic
unexplained, skipped, error, timed out), and the conversion differences
by rule and arch — then, folded, each disagreement and each conversion
difference with its scenario, statement and outcomes side by side
(expected, host, model, generic; or native and generic) and the
faultline explain command that shows that fault's path. Several files
give several kernels or arches on one page (a file may also hold several
streams, one after another). docs/json.md describes the streams.

Exit status: 0 when the page was written, 2 when an input is not a
conform or diff stream (the line is named), cannot be read, or when the
inputs hold no stream at all.`,
		Example: `  faultline conform --json > host.json
  faultline conform --json --arch arm64 > arm64.json
  faultline diff --json > diff.json
  faultline report host.json arm64.json diff.json > report.html
  faultline diff --json | faultline report -o diff.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"-"}
			}
			var p report.Page
			for _, a := range args {
				if err := addStream(&p, a, cmd.InOrStdin()); err != nil {
					return &exitError{2, err.Error()}
				}
			}
			if len(p.Conform)+len(p.Diffs) == 0 {
				return &exitError{2, "no conform or diff stream in the input: nothing to report (faultline conform --json, faultline diff --json)"}
			}
			w := stdout
			var f *os.File
			if out != "" && out != "-" {
				var err error
				if f, err = os.Create(out); err != nil {
					return &exitError{2, err.Error()}
				}
				w = f
			}
			bw := bufio.NewWriter(w)
			err := p.Write(bw)
			if err == nil {
				err = bw.Flush()
			}
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return &exitError{2, fmt.Sprintf("writing the page: %v", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the page to `FILE` instead of standard output")
	return cmd
}

// addStream reads the stream at path ("-": stdin) into p. Only a
// regular file is opened (stat first: opening a named pipe would wait
// for a writer); a stream from a pipe comes on standard input.
func addStream(p *report.Page, path string, stdin io.Reader) error {
	if path == "-" {
		return p.Add("standard input", stdin)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: expected a regular file (a JSON stream), found mode %s; give a pipe as standard input (-)", path, st.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return p.Add(path, f)
}
