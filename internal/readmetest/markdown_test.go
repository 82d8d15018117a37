package readmetest

import (
	"reflect"
	"strings"
	"testing"
)

// Blocks finds fences in order with their language, line and mark; an
// unclosed fence is an error (issue 14: the runner must not silently run
// less of the README than it holds).
func TestBlocks(t *testing.T) {
	md := strings.Join([]string{
		"# T", "```sh", "echo one", "```", "text", IllustrativeMark, "```sh", "triad status", "```",
		"```yaml", "a: 1", "```",
	}, "\n")
	got, err := Blocks(md)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Lang: "sh", Line: 2, Text: "echo one"},
		{Lang: "sh", Line: 7, Illustrative: true, Text: "triad status"},
		{Lang: "yaml", Line: 10, Text: "a: 1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Blocks:\n got %+v\nwant %+v", got, want)
	}
	if !got[0].Shell() || got[2].Shell() {
		t.Fatal("Shell: sh is shell, yaml is not")
	}
	if _, err := Blocks("```sh\necho never closed\n"); err == nil {
		t.Fatal("an unclosed fence passed")
	}
}

// Commands joins continuations and drops comments; Words keeps quoted
// text whole; TriadArgs recognises the three ways the README runs triad.
func TestCommandsWordsTriadArgs(t *testing.T) {
	text := "./triad request -c x.yaml \\\n    --reason \"two words\"   # a comment\n\n# only a comment\ngo run ./cmd/triad demo\necho 'a # b'"
	got, err := Commands(text)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"./triad", "request", "-c", "x.yaml", "--reason", "two words"},
		{"go", "run", "./cmd/triad", "demo"},
		{"echo", "a # b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Commands:\n got %q\nwant %q", got, want)
	}
	if args, ok := TriadArgs(got[0]); !ok || !reflect.DeepEqual(args, want[0][1:]) {
		t.Fatalf("TriadArgs(./triad …) = %q %v", args, ok)
	}
	if args, ok := TriadArgs(got[1]); !ok || !reflect.DeepEqual(args, []string{"demo"}) {
		t.Fatalf("TriadArgs(go run …) = %q %v", args, ok)
	}
	if _, ok := TriadArgs(got[2]); ok {
		t.Fatal("echo taken for triad")
	}
	if _, err := Words(`echo "unclosed`); err == nil {
		t.Fatal("an unclosed quote passed")
	}
	if _, err := Commands("./triad status \\"); err == nil {
		t.Fatal("a trailing continuation passed")
	}
}
