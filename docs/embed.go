// Package docs is the documentation that ships inside the faultline
// binary: every Markdown file of this directory, which "faultline help
// TOPIC" prints, so that an installed binary carries the language
// reference and the notes its output refers to.
package docs

import (
	"bytes"
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.md
var files embed.FS

// Topic is one document: its name (the file's, without .md), its title
// (the first "# " heading) and its text.
type Topic struct {
	Name  string
	Title string
	Text  []byte
}

// Topics returns every document, sorted by name.
func Topics() []Topic {
	names, err := fs.Glob(files, "*.md")
	if err != nil {
		panic(err) // the pattern is constant
	}
	sort.Strings(names)
	out := make([]Topic, 0, len(names))
	for _, n := range names {
		text, err := files.ReadFile(n)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		out = append(out, Topic{Name: strings.TrimSuffix(n, ".md"), Title: title(text), Text: text})
	}
	return out
}

// Lookup returns the topic called name.
func Lookup(name string) (Topic, bool) {
	for _, t := range Topics() {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

// title is the text of the first level-one heading, without Markdown's
// code quotes; "" if there is none.
func title(text []byte) string {
	for line := range bytes.Lines(text) {
		if h, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("# ")); ok {
			return strings.TrimSpace(strings.ReplaceAll(string(h), "`", ""))
		}
	}
	return ""
}
