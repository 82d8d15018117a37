package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/tss"
)

// await follows the opener's view until the request is signed, printing
// each change of status or decision.
func (u *unfreeze) await(ctx context.Context) (string, error) {
	start := u.cfg.Now()
	last := ""
	v, err := u.c.Watch(ctx, u.o.Opener.Party, u.reqID, func(v service.View) (bool, error) {
		line := string(v.Status)
		if v.Decision != nil {
			line += ": " + v.Decision.String()
		}
		if line != last {
			fmt.Fprintf(u.out, "      %s  %s\n", u.cfg.Now().Sub(start).Round(time.Second), line)
			last = line
		}
		switch {
		case v.Result != nil && v.Result.Complete:
			return true, nil
		case v.Status.Terminal():
			return false, fmt.Errorf("the unfreeze ended %s: %s", v.Status, v.Reason)
		}
		return false, nil
	})
	if err != nil {
		return "", err
	}
	u.view = v
	return fmt.Sprintf("signed by %s after %s (coordinator %s)", custody.JoinParties(v.Result.Signers), u.cfg.Now().Sub(start).Round(time.Second), v.Result.Coordinator), nil
}

// verify checks every signature against the canary key (derived along
// the account's child path); a coinless unfreeze must have signed the
// canary digest the drill computes itself.
func (u *unfreeze) verify(ctx context.Context) (string, error) {
	uc, err := u.c.UnsealCheck(ctx, u.o.Opener.Party)
	if err != nil {
		return "", err
	}
	var pubHex string
	for _, k := range uc.Keys {
		if k.KeyID == u.cfg.KeyID {
			pubHex = k.PublicKey
		}
	}
	pub, err := parsePub(pubHex)
	if err != nil {
		return "", fmt.Errorf("public key of %s: %w", u.cfg.KeyID, err)
	}
	req := u.view.Request
	if pub, _, err = tss.ChildKey(pub, req.ChildPath); err != nil {
		return "", err
	}
	res := u.view.Result
	if len(res.Signatures) == 0 {
		return "", errors.New("no signature")
	}
	evm := u.evmPlan()
	if len(req.Inputs) == 0 && evm == nil {
		want, err := service.DefaultDigester(req)
		if err != nil {
			return "", err
		}
		if len(res.Signatures) != 1 || res.Signatures[0].Digest != want[0] {
			return "", errors.New("the signature is not over the request's canary digest")
		}
	}
	for i, s := range res.Signatures {
		if !s.Verify(pub) {
			return "", fmt.Errorf("signature %d: signature does NOT verify under the group key", i)
		}
	}
	what := "canary digest"
	switch {
	case len(req.Inputs) > 0:
		what = fmt.Sprintf("%d regtest input(s)", len(req.Inputs))
	case evm != nil:
		// Every signer rebuilt the transaction from the request and its
		// own policy; the chain checks the signature when it takes it.
		what = fmt.Sprintf("EVM transaction (chain %d, nonce %d)", evm.ChainID, evm.Nonce)
	}
	return fmt.Sprintf("%d signature(s) over the %s verified under %s…", len(res.Signatures), what, pubHex[:16]), nil
}

// evmPlan is the EVM plan the unfreeze was signed with, if it pays on an
// EVM chain (the request's, else the result's).
func (u *unfreeze) evmPlan() *custody.EVMPlan {
	if u.view.Request.EVM != nil {
		return u.view.Request.EVM
	}
	if u.view.Result != nil {
		return u.view.Result.EVM
	}
	return nil
}

// broadcast waits until the coordinator's node sees the unfreeze's
// transaction on its chain node (its settlement record has the txid).
func (u *unfreeze) broadcast(ctx context.Context) (string, error) {
	v, err := u.c.Watch(ctx, string(u.view.Result.Coordinator), u.reqID, func(v service.View) (bool, error) {
		return v.Settlement != nil && v.Settlement.TxID != "" && v.Settlement.Error == "", nil
	})
	if err != nil {
		if v.Settlement != nil && v.Settlement.Error != "" {
			return "", fmt.Errorf("%w (the node reports: %s)", err, v.Settlement.Error)
		}
		return "", err
	}
	u.d.Param("txid", v.Settlement.TxID)
	return fmt.Sprintf("txid %s, %d confirmation(s)", v.Settlement.TxID, v.Settlement.Confirmations), nil
}

// done waits until party's node records the unfreeze as signed (a node
// with a Bitcoin node calls it done only once a block holds its
// transaction: on regtest nobody mines during the drill) or done.
func (u *unfreeze) done(ctx context.Context, party string) (string, error) {
	v, err := u.c.Watch(ctx, party, u.reqID, func(v service.View) (bool, error) {
		if v.Status == custody.StatusDone || v.Status == custody.StatusSigned && v.Result != nil && v.Result.Complete {
			return true, nil
		}
		if v.Status.Terminal() {
			return false, fmt.Errorf("recorded %s: %s", v.Status, v.Reason)
		}
		return false, nil
	})
	if err != nil {
		return "", err
	}
	return string(v.Status) + ": " + v.Reason, nil
}
