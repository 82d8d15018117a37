package recovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testReport(t *testing.T) *Report {
	d := NewDrill("all-pairs", "drill-1", nil)
	d.Param("key", "canary-1")
	d.Step("custodian+exchange sign a canary").End("verified", nil)
	d.Step("exchange+regulator sign a canary").End("verified", nil)
	return d.Finish()
}

func TestReportSignVerify(t *testing.T) {
	r := testReport(t)
	if r.Verdict != Pass {
		t.Fatalf("verdict %s", r.Verdict)
	}
	trusted := map[string]string{}
	for _, p := range []string{"custodian", "exchange"} {
		k, _, _ := crypto.GenerateEd25519Key(nil)
		a, err := SignWith(r, p, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Attest(a); err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		trusted[p] = id.String()
	}
	back, err := DecodeReport(r.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(trusted, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back.Markdown(), "PASS") {
		t.Fatal("markdown lacks the verdict")
	}
	// Tampering with any content breaks every signature.
	for name, tamper := range map[string]func(*Report){
		"verdict":  func(r *Report) { r.Verdict = Fail },
		"step":     func(r *Report) { r.Steps[1].DurationMS++ },
		"param":    func(r *Report) { r.Params["key"] = "custody-1" },
		"finished": func(r *Report) { r.Finished = r.Finished.Add(time.Second) },
	} {
		c, _ := DecodeReport(r.JSON())
		tamper(c)
		if err := c.Verify(trusted, 2); !errors.Is(err, ErrReportTampered) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A signature by a node not trusted for that party.
	other, _, _ := crypto.GenerateEd25519Key(nil)
	c, _ := DecodeReport(r.JSON())
	a, _ := SignWith(c, "regulator", other)
	c.Attest(a)
	if err := c.Verify(trusted, 2); !errors.Is(err, ErrReportUntrusted) {
		t.Fatalf("untrusted signer: %v", err)
	}
	// Too few signers.
	c, _ = DecodeReport(r.JSON())
	c.Signatures = c.Signatures[:1]
	if err := c.Verify(trusted, 2); !errors.Is(err, ErrReportTampered) {
		t.Fatalf("one signer: %v", err)
	}
}

func TestFailedStepFailsDrill(t *testing.T) {
	d := NewDrill("node-loss", "d2", nil)
	d.Step("a").End("", nil)
	d.Step("b").End("", errors.New("pair did not sign"))
	if r := d.Finish(); r.Verdict != Fail || !strings.Contains(r.Markdown(), "FAILED") {
		t.Fatalf("verdict %s", r.Verdict)
	}
	if NewDrill("x", "y", nil).Finish().Verdict != Fail {
		t.Fatal("an empty drill passed")
	}
}
