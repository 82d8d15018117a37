package custody_test

import (
	"errors"
	"testing"

	"github.com/triad-custody/triad/custody"
)

func TestTransitionTable(t *testing.T) {
	all := []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvSigned, custody.EvDone,
		custody.EvReject, custody.EvVeto, custody.EvLapse, custody.EvFail}
	legal := map[custody.Status]map[custody.EventType]custody.Status{
		custody.StatusProposed: {custody.EvApprove: custody.StatusApproved, custody.EvReject: custody.StatusRejected,
			custody.EvVeto: custody.StatusVetoed, custody.EvLapse: custody.StatusLapsed, custody.EvFail: custody.StatusFailed},
		custody.StatusApproved: {custody.EvBegin: custody.StatusSigning, custody.EvReject: custody.StatusRejected,
			custody.EvVeto: custody.StatusVetoed, custody.EvLapse: custody.StatusLapsed, custody.EvFail: custody.StatusFailed},
		custody.StatusSigning: {custody.EvAbort: custody.StatusApproved, custody.EvSigned: custody.StatusSigned},
		custody.StatusSigned:  {custody.EvDone: custody.StatusDone},
	}
	for _, s := range []custody.Status{custody.StatusProposed, custody.StatusApproved, custody.StatusSigning, custody.StatusSigned,
		custody.StatusDone, custody.StatusRejected, custody.StatusVetoed, custody.StatusLapsed, custody.StatusFailed} {
		for _, ev := range all {
			r := custody.Record{ID: "r", Status: s}
			got, err := custody.Transition(r, custody.Event{Type: ev, At: epoch})
			want, ok := legal[s][ev]
			switch {
			case ok && (err != nil || got.Status != want):
				t.Errorf("%s --%s--> want %s, got %s %v", s, ev, want, got.Status, err)
			case !ok && (!errors.Is(err, custody.ErrIllegalTransition) || got != r):
				t.Errorf("%s --%s--> should be illegal and leave the record alone, got %s %v", s, ev, got.Status, err)
			}
		}
	}
	if _, err := custody.Transition(custody.Record{Status: custody.StatusProposed}, custody.Event{Type: "teleport"}); !errors.Is(err, custody.ErrIllegalTransition) {
		t.Errorf("unknown event: %v", err)
	}
}

func TestAttemptsAndOneSignature(t *testing.T) {
	r := custody.NewRecord("r", epoch)
	step := func(ev custody.EventType) error {
		var err error
		r, err = custody.Transition(r, custody.Event{Type: ev, At: epoch, MaxAttempts: 2})
		return err
	}
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvAbort, custody.EvBegin, custody.EvAbort} {
		if err := step(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := step(custody.EvBegin); !errors.Is(err, custody.ErrTooManyAttempts) || r.Attempts != 2 {
		t.Fatalf("third attempt: %v, attempts %d", err, r.Attempts)
	}
	if err := step(custody.EvFail); err != nil || r.Status != custody.StatusFailed {
		t.Fatalf("fail: %v %s", err, r.Status)
	}
	r = custody.NewRecord("s", epoch)
	for _, ev := range []custody.EventType{custody.EvApprove, custody.EvBegin, custody.EvSigned} {
		if err := step(ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []custody.EventType{custody.EvBegin, custody.EvAbort, custody.EvSigned, custody.EvFail, custody.EvApprove} {
		if err := step(ev); !errors.Is(err, custody.ErrIllegalTransition) {
			t.Errorf("signed --%s--> must be illegal, got %v", ev, err)
		}
	}
}
