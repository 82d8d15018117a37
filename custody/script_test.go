package custody_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// Scenario scripts in testdata/*.txt are checked-in golden files run with
// github.com/cockroachdb/datadriven, in the style of etcd-io/raft's
// interaction tests: a command line, "----", the expected output, a blank
// line. The harness's nodes move requests with custody.Step, the function
// the service runs (harness_step_test.go). `go test ./custody -run
// TestScenarios -rewrite` regenerates the output.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			h := newHarness(t)
			datadriven.RunTest(t, f, func(t *testing.T, d *datadriven.TestData) string {
				h.t = t
				var pos []string
				kv := map[string]string{}
				for _, a := range d.CmdArgs {
					if len(a.Vals) == 0 {
						pos = append(pos, a.Key)
					} else {
						kv[a.Key] = strings.Join(a.Vals, ",")
					}
				}
				out := h.run(d.Cmd, pos, kv)
				if out != "" && !strings.HasSuffix(out, "\n") {
					out += "\n"
				}
				return out
			})
		})
	}
}
