package main

import (
	"strings"
	"testing"
)

// Each node with a pending share follows what the other nodes decided;
// disagreement or no decision anywhere is the operators' call.
func TestReshareResolution(t *testing.T) {
	const old, next, other = "old", "new", "other"
	for _, tc := range []struct {
		name    string
		views   map[string]shareViews
		want    map[string]string
		problem string
	}{
		{"others committed", map[string]shareViews{"custodian": {old, next}, "exchange": {next, ""}, "regulator": {next, ""}},
			map[string]string{"custodian": "commit"}, ""},
		{"the replacement missed the commit", map[string]shareViews{"custodian": {next, ""}, "exchange": {"", next}},
			map[string]string{"exchange": "commit"}, ""},
		{"the survivor aborted", map[string]shareViews{"custodian": {old, next}, "regulator": {old, ""}},
			map[string]string{"custodian": "discard"}, ""},
		{"the replacement is left with a share nobody kept", map[string]shareViews{"custodian": {old, ""}, "regulator": {old, ""}, "exchange": {"", next}},
			map[string]string{"exchange": "discard"}, ""},
		{"two undecided follow the third", map[string]shareViews{"custodian": {old, next}, "exchange": {"", next}, "regulator": {next, ""}},
			map[string]string{"custodian": "commit", "exchange": "commit"}, ""},
		{"split", map[string]shareViews{"custodian": {old, next}, "exchange": {next, ""}, "regulator": {other, ""}},
			map[string]string{}, "disagree"},
		{"nobody decided", map[string]shareViews{"custodian": {old, next}, "exchange": {"", next}},
			map[string]string{}, "no other node"},
		{"alone", map[string]shareViews{"custodian": {old, next}}, map[string]string{}, "no other node"},
		{"nothing pending", map[string]shareViews{"custodian": {old, ""}, "regulator": {old, ""}}, map[string]string{}, ""},
	} {
		got, problems := resolution(tc.views)
		if len(got) != len(tc.want) {
			t.Errorf("%s: actions %v, want %v", tc.name, got, tc.want)
		}
		for p, a := range tc.want {
			if got[p] != a {
				t.Errorf("%s: %s %q, want %q", tc.name, p, got[p], a)
			}
		}
		joined := strings.Join(problems, "; ")
		if (tc.problem == "") != (joined == "") || !strings.Contains(joined, tc.problem) {
			t.Errorf("%s: problems %q, want one naming %q", tc.name, joined, tc.problem)
		}
	}
}
