package service_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/audit"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// Record puts drill and reshare events on the chain (as digests), which
// still verifies; request-flow kinds and unbounded subjects are refused.
func TestRecord(t *testing.T) {
	svc, err := service.New(service.Options{Policy: st.BasePolicy(custody.Regulator), Path: filepath.Join(t.TempDir(), service.StoreFile), TickEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.Record(service.KindDrill, "drill/all-pairs/t1", []byte("report digest")); err != nil {
		t.Fatal(err)
	}
	if err := svc.Record(service.KindReshare, "reshare/r1", []byte(`{"step":"committed"}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ kind, subject string }{
		{audit.KindApproval, "x"}, {service.KindSignature, "x"}, {service.KindDrill, ""}, {service.KindDrill, string(make([]byte, 129))},
	} {
		if err := svc.Record(bad.kind, bad.subject, nil); !errors.Is(err, custody.ErrMalformed) {
			t.Fatalf("Record(%q, %d bytes): %v", bad.kind, len(bad.subject), err)
		}
	}
	recs, err := svc.Store().Audit().Records(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Kind != service.KindDrill || recs[0].RequestID != "drill/all-pairs/t1" ||
		recs[0].Payload != audit.Digest([]byte("report digest")) || recs[1].Kind != service.KindReshare || recs[1].Party != "regulator" {
		t.Fatalf("records: %+v", recs)
	}
	if err := svc.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
}
