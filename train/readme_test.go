package train_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeSnippet: the Go snippets of README.md and docs/library.md are
// Example_readme's body (example_readme_test.go), so they compile and name
// only what exists.
func TestReadmeSnippet(t *testing.T) {
	src, err := os.ReadFile("example_readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	begin, end := strings.Index(s, "// README begin\n"), strings.Index(s, "\t// README end")
	if begin < 0 || end < begin {
		t.Fatal("example_readme_test.go: no README markers")
	}
	var want []string
	for _, line := range strings.Split(strings.TrimRight(s[begin+len("// README begin\n"):end], "\n"), "\n") {
		want = append(want, strings.TrimPrefix(line, "\t"))
	}
	for _, doc := range []string{"../README.md", "../docs/library.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i := strings.Index(text, "```go\n")
		if i < 0 {
			t.Errorf("%s: no Go snippet", doc)
			continue
		}
		j := strings.Index(text[i+6:], "```")
		got := strings.TrimRight(text[i+6:i+6+j], "\n")
		if got != strings.Join(want, "\n") {
			t.Errorf("%s: the Go snippet is not Example_readme's body (example_readme_test.go); copy it over:\n%s", doc, strings.Join(want, "\n"))
		}
	}
}
