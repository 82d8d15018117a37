package custody_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/triad-custody/triad/custody"
)

// Outcomes of signing and settlement reach the harness's nodes as they
// reach the service's: as the Outcome of a StepInput, a step of its own
// whose effects the node executes (custody/outcome.go).

// outcome <alias> <party> <kind> [err=(...)] [signers=(p, p)] [by=p]
// [txid=] [confirmations=N] [found] [complete] [finalizes] [tracks] — node
// party learns an outcome: kind is an OutcomeKind (signed, failed,
// peer-signed, restarted, finish, finalized, confirmed, spent, capped); by
// is the coordinator of a signature; finalizes: the node runs a finalizer
// (else the signature is the product); tracks: it has a chain node of its
// own.
func (h *harness) outcome(pos []string, kv map[string]string) (string, error) {
	if len(pos) < 3 {
		return "", fmt.Errorf("usage: outcome <alias> <party> <kind> [k=v...] [found] [complete] [finalizes] [tracks]")
	}
	n := h.nodes[custody.Party(pos[1])]
	if n == nil || n.progress[pos[0]] == nil {
		return "", fmt.Errorf("unknown party or request")
	}
	switch custody.OutcomeKind(pos[2]) {
	case custody.OutcomeSigned, custody.OutcomeFailed, custody.OutcomePeerSigned, custody.OutcomeRestarted, custody.OutcomeFinish,
		custody.OutcomeFinalized, custody.OutcomeConfirmed, custody.OutcomeSpent, custody.OutcomeCapped:
	default:
		return "", fmt.Errorf("unknown outcome %q", pos[2])
	}
	o := custody.Outcome{Kind: custody.OutcomeKind(pos[2]), Err: kv["err"], Coordinator: custody.Party(kv["by"]),
		TxID: kv["txid"], Confirmations: int64(num(kv, "confirmations", 0))}
	for _, s := range splitList(kv["signers"]) {
		o.Signers = append(o.Signers, custody.Party(strings.TrimSpace(s)))
	}
	in := custody.StepInput{PeerFinalizes: true, Outcome: &o}
	for _, f := range pos[3:] {
		switch f {
		case "found":
			o.Found = true
		case "complete":
			o.Complete = true
		case "finalizes":
			in.Finalizes = true
		case "tracks":
			in.PeerFinalizes = false
		default:
			return "", fmt.Errorf("unknown flag %q", f)
		}
	}
	out, err := h.stepOf(n, pos[0], in)
	if err != nil {
		return "", err
	}
	lines, _ := h.execute(n, pos[0], out)
	return strings.Join(append(lines, h.recordLine(n, pos[0])), "\n") + "\n", nil
}

func (h *harness) recordLine(n *node, alias string) string {
	rec := n.progress[alias].Record
	return fmt.Sprintf("%s: %s attempts=%d", n.party, rec.Status, rec.Attempts)
}

// begin executes a step's sign effect as the service does: the attempt is
// begun and counted, and a begin the node's record refuses (attempts
// spent) is an outcome of its own.
func (h *harness) begin(n *node, alias string, out custody.Output) []string {
	for _, e := range out.Effects {
		if e.Kind != custody.EffectSign || e.Batch {
			continue
		}
		err := h.apply(n, alias, custody.EvBegin, "signing with "+string(e.Partner))
		switch {
		case err == nil:
			return []string{"begun with " + string(e.Partner)}
		case !errors.Is(err, custody.ErrTooManyAttempts):
			return []string{fmt.Sprintf("begin refused: %v", err)}
		}
		o, err := h.stepOf(n, alias, custody.StepInput{Outcome: &custody.Outcome{Kind: custody.OutcomeSpent}})
		if err != nil {
			return []string{err.Error()}
		}
		lines, _ := h.execute(n, alias, o)
		return lines
	}
	return nil
}

// attempt is one signing attempt of node n, the pair's coordinator (lead)
// or its partner, as the service records it: begun (the coordinator's sign
// effect, the partner's join), failed aborts times (the coordinator's
// outcome; for the partner, the attempt it joined is over), then signed
// (the coordinator's own signature; the partner's verified copy of it).
// Every outcome goes through custody.Step.
func (h *harness) attempt(b *strings.Builder, n *node, alias string, pair []custody.Party, aborts int) {
	lead := pair[0] == n.party
	for i := 0; i <= aborts; i++ {
		if err := h.apply(n, alias, custody.EvBegin, ""); err != nil {
			fmt.Fprintf(b, "%s: %v\n", n.party, err)
			return
		}
		in := custody.StepInput{PeerFinalizes: true}
		switch {
		case i < aborts && lead:
			in.Outcome = &custody.Outcome{Kind: custody.OutcomeFailed, Err: "a silent peer"}
		case i < aborts:
			in = connected(n.party)
			in.JoinedOver = true
		case lead:
			in.Outcome = &custody.Outcome{Kind: custody.OutcomeSigned, Signers: pair}
		default:
			in.Outcome = &custody.Outcome{Kind: custody.OutcomePeerSigned, Signers: pair, Coordinator: pair[0]}
		}
		out, err := h.stepOf(n, alias, in)
		if err != nil {
			fmt.Fprintf(b, "%s: %v\n", n.party, err)
			return
		}
		if lines, _ := h.execute(n, alias, out); len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "refused: ") {
			fmt.Fprintf(b, "%s: %s\n", n.party, lines[len(lines)-1])
			return
		}
	}
}
