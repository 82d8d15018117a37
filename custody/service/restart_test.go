package service_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// The custodian is killed between the two approvals and restarted on its
// store: the request continues and is signed once.
func TestRestartBetweenApprovals(t *testing.T) {
	c := st.New(t, st.Options{})
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("restart-1", 5000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Custodian, v, "1")
	c.Restart(custody.Custodian)
	got, err := c.Svc(custody.Custodian).Get(v.ID)
	if err != nil || got.Approvals[custody.Custodian].Operator != "alice" {
		t.Fatalf("after restart: %v %+v", err, got.Approvals)
	}
	approve(t, c, custody.Exchange, v, "1")
	for _, p := range custody.Parties {
		done := c.WaitStatus(t, p, v.ID, custody.StatusDone)
		if len(done.Result.Signatures) != 1 {
			t.Fatalf("%s: %d signatures", p, len(done.Result.Signatures))
		}
	}
}

// The coordinator dies while its signing session runs (the proposal never
// reaches the partner). On restart the attempt is aborted and counted, the
// request continues with a fresh session, and exactly one
// signature results.
func TestRestartDuringSigning(t *testing.T) {
	c := st.New(t, st.Options{SignTimeout: 20 * time.Second})
	drop := make(chan struct{}, 1)
	c.Net.Intercept(func(from, to string, f []byte) [][]byte {
		if from == "custodian" && to == "exchange" && bytes.Contains(f, []byte(`"kind":"propose"`)) {
			select {
			case drop <- struct{}{}:
			default:
			}
			return nil
		}
		return [][]byte{f}
	})
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("restart-2", 5000))
	if err != nil {
		t.Fatal(err)
	}
	approve(t, c, custody.Exchange, v, "1")
	c.WaitFor(t, custody.Custodian, v.ID, "exchange approval", hasApprovals(1))
	approve(t, c, custody.Custodian, v, "1")
	c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusSigning)
	select {
	case <-drop:
	case <-time.After(10 * time.Second):
		t.Fatal("no signing proposal was sent")
	}
	c.Stop(custody.Custodian) // kill -9 mid-session: "signing" is on disk
	c.Net.Intercept(nil)
	c.Start(custody.Custodian)
	// The dead attempt is aborted and counted: the request is approved
	// with one attempt, or (the restart's first step came first) already
	// signing its second.
	got, _ := c.Svc(custody.Custodian).Get(v.ID)
	aborted := got.Status == custody.StatusApproved && got.Attempts == 1
	again := got.Attempts == 2 && (got.Status == custody.StatusSigning || got.Status == custody.StatusDone)
	if !aborted && !again {
		t.Fatalf("after restart: %s attempts=%d", got.Status, got.Attempts)
	}
	c.Tick()
	done := c.WaitStatus(t, custody.Custodian, v.ID, custody.StatusDone)
	if done.Attempts != 2 || len(done.Result.Signatures) != 1 {
		t.Fatalf("attempts %d, result %+v", done.Attempts, done.Result)
	}
	c.WaitStatus(t, custody.Exchange, v.ID, custody.StatusDone)
	// Nothing signs it again.
	c.Tick()
	if again, _ := c.Svc(custody.Custodian).Get(v.ID); again.Attempts != 2 || again.Status != custody.StatusDone {
		t.Fatalf("after done: %+v", again)
	}
}

// A node's sends die with it: the custodian approves while cut off, so
// its approval never leaves it, and is restarted. Without a single tick,
// starting again offers the exchange what the custodian holds of its open
// requests: the exchange records the custodian's approval. (Before, a
// restart only asked peers for their status, and the approval waited for
// the next tick's anti-entropy; a signing attempt in between was refused,
// "not an approved quorum here yet".)
func TestRestartOffersWhatItsOutboxLost(t *testing.T) {
	c := st.New(t, st.Options{})
	v, _, err := c.Svc(custody.Exchange).Submit(ctx, st.Caller(service.RoleOperator), st.Release("restart-3", 5000))
	if err != nil {
		t.Fatal(err)
	}
	c.WaitFor(t, custody.Custodian, v.ID, "the proposal", func(service.View) bool { return true })
	c.Net.Isolate(string(custody.Custodian), true)
	approve(t, c, custody.Custodian, v, "1")
	c.Stop(custody.Custodian)
	c.Net.Isolate(string(custody.Custodian), false)
	if got, _ := c.Svc(custody.Exchange).Get(v.ID); len(got.Approvals) != 0 {
		t.Fatalf("the exchange heard the approval while the custodian was cut off: %+v", got.Approvals)
	}
	c.Start(custody.Custodian)
	c.WaitFor(t, custody.Exchange, v.ID, "the custodian's approval", hasApprovals(1))
}
