package custody_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/triad-custody/triad/custody"
)

// The harness's nodes move requests with custody.Step, the function the
// service runs (custody/service/flow.go): a command builds a node's
// StepState and StepInput, calls Step and executes the Output as the
// service does — effects in order, stopping at the first persist that
// fails; an announced automatic approval reaches every node at once. A
// signing attempt's outcome (signed, failed, a peer's signature, the
// broadcast, the chain's answer) reaches a node as an Outcome of a step,
// as in the service (harness_outcome_test.go); only the signing itself is
// not run.

func (h *harness) state(n *node, alias string) custody.State {
	return custody.State{Progress: *n.progress[alias], Settlements: n.settlements, Exposure: n.exposure}
}

// stepOf runs Step on node n for request alias with what n observes.
func (h *harness) stepOf(n *node, alias string, in custody.StepInput) (custody.Output, error) {
	req, err := h.request(alias)
	if err != nil {
		return custody.Output{}, err
	}
	s := custody.StepState{Request: req, State: h.state(n, alias)}
	return custody.Step(n.policy, s, in, n.clock.Now()), nil
}

// connected is what a node of a connected cluster observes when its peers
// have reported nothing: every peer reachable, no chain node of its own.
func connected(self custody.Party) custody.StepInput {
	in := custody.StepInput{Peers: map[custody.Party]custody.PeerReport{}, Reachable: map[custody.Party]bool{}, PeerFinalizes: true}
	for _, p := range custody.Parties {
		in.Reachable[p] = p != self
	}
	return in
}

// observe builds node self's input from a step command's arguments:
// down=p[,p] (unreachable), peer=p:status[,p:status] (a peer's newest
// report; the status "too-early" is a proposed request it refuses until
// time passes), joined-over, batch.
func observe(self custody.Party, pos []string, kv map[string]string) custody.StepInput {
	in := connected(self)
	for _, p := range splitList(kv["down"]) {
		in.Reachable[custody.Party(p)] = false
	}
	for _, r := range splitList(kv["peer"]) {
		p, st, _ := strings.Cut(r, ":")
		rep := custody.PeerReport{Status: custody.Status(st), Reason: "its policy"}
		if st == "too-early" {
			rep = custody.PeerReport{Status: custody.StatusProposed, Waiting: true}
		}
		in.Peers[custody.Party(p)] = rep
	}
	for _, f := range pos {
		switch f {
		case "joined-over":
			in.JoinedOver = true
		case "batch":
			in.Batches = true
		}
	}
	return in
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// apply runs one state-machine event on node n, counting a fund-moving
// request's first begin against the day's cap as the store does.
func (h *harness) apply(n *node, alias string, t custody.EventType, reason string) error {
	prog := n.progress[alias]
	req := h.reqs[alias]
	at := n.clock.Now()
	next, err := custody.Transition(prog.Record, custody.Event{Type: t, At: at, Reason: reason, MaxAttempts: n.policy.MaxSigningAttempts})
	if err != nil {
		return err
	}
	if t == custody.EvBegin && prog.Record.Attempts == 0 && n.policy.CountsTowardCap(req) {
		class, _ := n.policy.CapOf(req)
		n.settlements[custody.CapKey(custody.DayKey(at), class)]++
	}
	prog.Record = next
	return nil
}

// execute does what a step of node n asked, except beginning a signing
// attempt (sign and begin do that), and reports each effect. The automatic
// approvals it announces are returned, to reach every node.
func (h *harness) execute(n *node, alias string, out custody.Output) ([]string, []custody.Endorsement) {
	var lines []string
	var sent []custody.Endorsement
	auto := custody.Endorsement{Party: n.party, Stance: custody.Approve, Auto: true, At: n.clock.Now()}
	for _, e := range out.Effects {
		lines = append(lines, e.String())
		switch {
		case e.Kind == custody.EffectPersist && e.AutoApproval:
			prog := n.progress[alias]
			prog.Approvals = setEndorsement(prog.Approvals, auto)
		case e.Kind == custody.EffectPersist:
			if err := h.apply(n, alias, e.Event, e.Reason); err != nil {
				return append(lines, fmt.Sprintf("refused: %v", err)), sent
			}
		case e.Kind == custody.EffectSend:
			sent = append(sent, auto)
		}
	}
	return lines, sent
}

// reach records announced automatic approvals on every node.
func (h *harness) reach(alias string, sent []custody.Endorsement) {
	for _, e := range sent {
		for _, n := range h.nodes {
			prog := n.progress[alias]
			prog.Approvals = setEndorsement(prog.Approvals, e)
		}
	}
}

// evaluate <alias> [party...] — every named node takes a step on its own
// clock in a connected cluster and shows its decision; the automatic
// approvals the steps announce then reach every node. The step's other
// effects are not executed (step and sign execute them).
func (h *harness) evaluate(pos []string) (string, error) {
	if len(pos) < 1 {
		return "", fmt.Errorf("usage: evaluate <alias> [party...]")
	}
	ps, err := h.parties(pos[1:])
	if err != nil {
		return "", err
	}
	var b strings.Builder
	var sent []custody.Endorsement
	for _, p := range ps {
		n := h.nodes[p]
		out, err := h.stepOf(n, pos[0], connected(p))
		if err != nil {
			return "", err
		}
		d, ok := out.Decision()
		if !ok {
			fmt.Fprintf(&b, "%s: no decision: request is %s\n", p, n.progress[pos[0]].Record.Status)
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", p, d)
		for _, e := range out.Effects {
			if e.Kind == custody.EffectSend {
				sent = append(sent, custody.Endorsement{Party: p, Stance: custody.Approve, Auto: true, At: n.clock.Now()})
			}
		}
	}
	h.reach(pos[0], sent)
	return b.String(), nil
}

// step <alias> <party> [down=p,...] [peer=p:status,...] [joined-over]
// [batch] [begin] — one node takes a step with what it observes, and
// executes it; with begin, a signing attempt it asks for is begun too
// (harness.begin).
func (h *harness) step(pos []string, kv map[string]string) (string, error) {
	if len(pos) < 2 {
		return "", fmt.Errorf("usage: step <alias> <party> [down=] [peer=] [joined-over] [batch]")
	}
	p := custody.Party(pos[1])
	n := h.nodes[p]
	if n == nil {
		return "", fmt.Errorf("unknown party %q", pos[1])
	}
	out, err := h.stepOf(n, pos[0], observe(p, pos[2:], kv))
	if err != nil {
		return "", err
	}
	lines, sent := h.execute(n, pos[0], out)
	h.reach(pos[0], sent)
	if slices.Contains(pos[2:], "begin") {
		lines = append(lines, h.begin(n, pos[0], out)...)
	}
	lines = append(lines, h.recordLine(n, pos[0]))
	return strings.Join(lines, "\n") + "\n", nil
}

// sign <alias> [aborts=N] — the nodes whose step finds them ready execute
// it, and the pair runs an attempt to done: the first N attempts abort (a
// silent peer).
func (h *harness) sign(pos []string, kv map[string]string) (string, error) {
	if len(pos) != 1 {
		return "", fmt.Errorf("usage: sign <alias> [aborts=N]")
	}
	alias := pos[0]
	req, err := h.request(alias)
	if err != nil {
		return "", err
	}
	var ready, pair []custody.Party
	var signers string
	outs := map[custody.Party]custody.Output{}
	for _, p := range custody.Parties {
		out, err := h.stepOf(h.nodes[p], alias, connected(p))
		if err != nil {
			return "", err
		}
		if d, ok := out.Decision(); ok && d.Ready {
			ready, signers, outs[p] = append(ready, p), fmt.Sprint(d.Signers), out
		}
		for _, e := range out.Effects {
			if e.Kind == custody.EffectSign {
				pair = []custody.Party{p, e.Partner}
			}
		}
	}
	if len(ready) < 2 || pair == nil {
		return fmt.Sprintf("no signing: %d node(s) ready", len(ready)), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "signers %s\n", signers)
	for _, p := range ready {
		n := h.nodes[p]
		_, sent := h.execute(n, alias, outs[p])
		h.reach(alias, sent)
		h.attempt(&b, n, alias, pair, int(num(kv, "aborts", 0)))
		class, _ := n.policy.CapOf(req)
		capKey := custody.CapKey(custody.DayKey(n.clock.Now()), class)
		rec := n.progress[alias].Record
		fmt.Fprintf(&b, "%s: %s attempts=%d settlements-today=%d\n", p, rec.Status, rec.Attempts, n.settlements[capKey])
	}
	return b.String(), nil
}
