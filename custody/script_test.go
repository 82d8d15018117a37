package custody_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Scenario scripts in testdata/*.txt are checked-in golden files, in the
// style of etcd-io/raft's interaction tests: a command line, "----", the
// expected output, a blank line. `go test ./custody -run TestScenarios
// -rewrite` regenerates the output.
var rewrite = flag.Bool("rewrite", false, "rewrite the golden output of testdata/*.txt")

type scriptBlock struct {
	pre  []string // comments and blank lines before the command
	cmd  string
	out  string
	line int
}

func parseScript(data string) []scriptBlock {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	var blocks []scriptBlock
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		b := scriptBlock{pre: pre, cmd: l, line: i + 1}
		pre = nil
		if i+1 < len(lines) && lines[i+1] == "----" {
			i += 2
			var out []string
			for ; i < len(lines) && lines[i] != ""; i++ {
				out = append(out, lines[i])
			}
			b.out = strings.Join(out, "\n")
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t)
			var b strings.Builder
			for _, blk := range parseScript(string(data)) {
				got := strings.TrimRight(h.run(blk.cmd), "\n")
				if !*rewrite && got != blk.out {
					t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", f, blk.line, blk.cmd, blk.out, got)
				}
				for _, p := range blk.pre {
					b.WriteString(p + "\n")
				}
				b.WriteString(blk.cmd + "\n----\n")
				if got != "" {
					b.WriteString(got + "\n")
				}
				b.WriteString("\n")
			}
			if *rewrite {
				if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
