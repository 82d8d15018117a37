package drill_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/recovery/drill"
)

// An undecided reshare (../shared/SECURITY.md scenarios 15 and 16): the custodian
// missed the commit the other two made. A dry run says what would happen
// and changes nothing; the run commits the custodian's pending share; with
// the others split, nothing is decided and the call fails.
func TestResolveReshare(t *testing.T) {
	m := newTwin(t)
	m.LeaveUndecided("custodian", "old", "new")
	m.LeaveUndecided("exchange", "new", "")
	m.LeaveUndecided("regulator", "new", "")
	var out bytes.Buffer
	if err := drill.ResolveReshare(&out, m, "fixture", "", true); err != nil || !strings.Contains(out.String(), "custodian would commit its pending share") {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if uc, _ := m.UnsealCheck(t.Context(), "custodian"); uc.Keys[0].PendingView != "new" {
		t.Fatal("the dry run changed the custodian's shares")
	}
	out.Reset()
	if err := drill.ResolveReshare(&out, m, "fixture", "", false); err != nil || !strings.Contains(out.String(), "custodian: pending share committed") {
		t.Fatalf("resolve: %v\n%s", err, out.String())
	}
	if uc, _ := m.UnsealCheck(t.Context(), "custodian"); uc.Keys[0].View != "new" || uc.Keys[0].PendingView != "" {
		t.Fatalf("the custodian's shares after resolving: %+v", uc.Keys[0])
	}

	m.LeaveUndecided("custodian", "old", "new")
	m.LeaveUndecided("regulator", "other", "")
	out.Reset()
	err := drill.ResolveReshare(&out, m, "fixture", "", false)
	if !errors.Is(err, drill.ErrFailed) || !strings.Contains(out.String(), "the nodes disagree") {
		t.Fatalf("split views: %v\n%s", err, out.String())
	}
	if uc, _ := m.UnsealCheck(t.Context(), "custodian"); uc.Keys[0].PendingView != "new" {
		t.Fatal("a split decided anyway")
	}
}
