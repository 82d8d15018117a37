package recovery

import (
	"fmt"
	"sort"
)

// ShareViews is one node's public views of a key's shares: the one in
// force and, after an undecided reshare, the pending one.
type ShareViews struct{ InForce, Pending string }

// Resolution actions for a node's pending share.
const (
	Commit  = "commit"
	Discard = "discard"
)

// Resolution decides what each node with a pending share of a key must
// do, from the views of every node that answered. The reshare committed
// at a node that holds the pending committee in force; it did not at a
// node with nothing pending and other shares (the old ones) in force. A
// node follows what the others decided; when they disagree, or none
// decided, it is the operators' call, and the problems say why.
func Resolution(views map[string]ShareViews) (actions map[string]string, problems []string) {
	actions = map[string]string{}
	parties := make([]string, 0, len(views))
	for p := range views {
		parties = append(parties, p)
	}
	sort.Strings(parties)
	for _, p := range parties {
		v := views[p]
		if v.Pending == "" {
			continue
		}
		var committed, kept []string
		for _, o := range parties {
			ov := views[o]
			switch {
			case o == p:
			case ov.InForce == v.Pending:
				committed = append(committed, o)
			case ov.Pending == "":
				kept = append(kept, o) // decided, and not for these shares
			}
		}
		switch {
		case len(committed) > 0 && len(kept) == 0:
			actions[p] = Commit
		case len(kept) > 0 && len(committed) == 0:
			actions[p] = Discard
		case len(committed) > 0:
			problems = append(problems, fmt.Sprintf("%s: %v hold the new shares in force but %v the old ones: the nodes disagree; decide with --action", p, committed, kept))
		default:
			problems = append(problems, fmt.Sprintf("%s: no other node that answered has decided; start the others, or decide with --action", p))
		}
	}
	return actions, problems
}
