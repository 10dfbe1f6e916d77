package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTopics: every Markdown file of the directory ships, under its name,
// with the text on disk and a title.
func TestTopics(t *testing.T) {
	onDisk, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	topics := Topics()
	if len(topics) != len(onDisk) || len(topics) == 0 {
		t.Fatalf("%d topics, %d Markdown files", len(topics), len(onDisk))
	}
	for _, want := range []string{"scenario-format", "kernel-versions", "host-detection", "conversion-report"} {
		tp, ok := Lookup(want)
		if !ok {
			t.Errorf("no topic %s", want)
			continue
		}
		disk, err := os.ReadFile(want + ".md")
		if err != nil {
			t.Fatal(err)
		}
		if string(tp.Text) != string(disk) {
			t.Errorf("%s: the embedded text differs from the file", want)
		}
		if tp.Title == "" || strings.Contains(tp.Title, "`") || strings.HasPrefix(tp.Title, "#") {
			t.Errorf("%s: title %q", want, tp.Title)
		}
	}
	if _, ok := Lookup("no-such-topic"); ok {
		t.Error("Lookup found a topic that does not exist")
	}
}

func TestTitle(t *testing.T) {
	tests := []struct{ text, want string }{
		{"# The scenario language (`.fault` files)\n\ntext", "The scenario language (.fault files)"},
		{"intro\n\n## Sub\n# Top\r\n", "Top"},
		{"no heading\n#hashtag\n", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := title([]byte(tc.text)); got != tc.want {
			t.Errorf("title(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
