package recovery_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/triad-custody/triad/recovery"
)

// The reshare commit/discard rule (../shared/SECURITY.md scenarios 15, 16, 32): each
// node with a pending share follows what the other nodes decided;
// disagreement or no decision anywhere is the operators' call. Scripts in
// testdata/resolve.txt: each input line is "party in-force [pending]"
// ("-" for no share in force); the output is every action, then every
// problem. Regenerate with -rewrite.
func TestResolution(t *testing.T) {
	datadriven.RunTest(t, "testdata/resolve.txt", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "resolve" {
			d.Fatalf(t, "unknown command %q", d.Cmd)
		}
		views := map[string]recovery.ShareViews{}
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || len(f) > 3 {
				d.Fatalf(t, "want \"party in-force [pending]\", got %q", line)
			}
			v := recovery.ShareViews{InForce: strings.TrimPrefix(f[1], "-")}
			if len(f) == 3 {
				v.Pending = f[2]
			}
			views[f[0]] = v
		}
		actions, problems := recovery.Resolution(views)
		var out []string
		for p, a := range actions {
			out = append(out, fmt.Sprintf("%s: %s", p, a))
		}
		sort.Strings(out)
		for _, pr := range problems {
			out = append(out, "problem: "+pr)
		}
		if len(out) == 0 {
			return "nothing to do\n"
		}
		return strings.Join(out, "\n") + "\n"
	})
}
