package custody

import (
	"encoding/hex"
	"fmt"
)

// MaxRequestInputs bounds the coins one transfer request may spend.
const MaxRequestInputs = 64

// Input is one coin a transfer request spends: an outpoint of the
// account's custody address and its value in satoshis. The locking script
// is not carried: every signer derives it from the account's key and child
// path. BIP143 commits every signature to the value, so a wrong value or
// a coin of another key yields a transaction no Bitcoin node accepts.
//
// Inputs are a request's plan, not part of what the caller asks (nor of
// its ID): the coordinator of a signing attempt chooses them from its own
// Bitcoin node and reserves them in its store; every signer looks each one
// up on its own Bitcoin node (value, script, unspent, confirmations) and
// reserves it in its own store before it joins (package settle and
// service). Two open requests never hold the same outpoint.
type Input struct {
	TxID  string `json:"txid"` // hex, as block explorers show it
	Vout  uint32 `json:"vout"`
	Value uint64 `json:"value"` // satoshis
}

// validateInputs checks a transfer's inputs: well-formed, bounded, each
// coin once. None at all is valid here (the accepting node fills them in);
// settlement refuses a request without inputs.
func validateInputs(ins []Input) error {
	if len(ins) > MaxRequestInputs {
		return malformed("inputs", "at most %d inputs", MaxRequestInputs)
	}
	seen := make(map[Input]bool, len(ins))
	for i, in := range ins {
		if b, err := hex.DecodeString(in.TxID); err != nil || len(b) != 32 || fmt.Sprintf("%x", b) != in.TxID {
			return malformed(fmt.Sprintf("inputs[%d].txid", i), "must be 64 lower-case hex characters")
		}
		if in.Value == 0 || in.Value > MaxAmount {
			return malformed(fmt.Sprintf("inputs[%d].value", i), "must be 1..%d satoshis", uint64(MaxAmount))
		}
		key := Input{TxID: in.TxID, Vout: in.Vout}
		if seen[key] {
			return malformed(fmt.Sprintf("inputs[%d]", i), "spends %s:%d twice", in.TxID, in.Vout)
		}
		seen[key] = true
	}
	return nil
}
