package drill_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/node/reshare"
	"github.com/triad-custody/triad/recovery"
	"github.com/triad-custody/triad/recovery/drill"
	"github.com/triad-custody/triad/tss/fixtures"
)

// The reshare drill on the twin (../shared/SECURITY.md scenario 15): the exchange's
// node is lost; the survivors reshare the canary key to a fresh one, the
// steps are printed as they come, and every pair then signs under the
// same group key. An order for another public key fails the drill.
func TestReshareDrill(t *testing.T) {
	m := newTwin(t)
	m.Stop("exchange")
	pub := hex.EncodeToString(twinKey().PubKey().SerializeCompressed())
	order := reshare.Order{Spec: reshare.Spec{ReshareID: "r-1", KeyID: fixtures.KeyID, Replace: "exchange", PublicKey: pub},
		Approvals: []reshare.Approval{{}, {}}}
	var out bytes.Buffer
	rep, err := drill.Reshare(m, drill.Config{ReportDir: t.TempDir(), Out: &out, Now: m.clock.Now}, order)
	if err != nil || rep.Verdict != recovery.Pass {
		t.Fatalf("reshare drill: %v\n%s", err, out.String())
	}
	for _, want := range []string{"reshare complete", "ok   custodian+exchange sign a canary with the new shares", "ok   exchange+regulator sign a canary with the new shares"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q\n%s", want, out.String())
		}
	}
	order.Spec.PublicKey = strings.Repeat("02", 33)
	out.Reset()
	rep, err = drill.Reshare(m, drill.Config{ReportDir: t.TempDir(), Out: &out, Now: m.clock.Now}, order)
	if !errors.Is(err, drill.ErrFailed) || rep.Verdict != recovery.Fail || strings.Contains(out.String(), "with the new shares") {
		t.Fatalf("a reshare order for another key: %v\n%s", err, out.String())
	}
}
