package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/evm"
	"github.com/triad-custody/triad/custody/service"
)

// evmRequestTx is `triad tx show --request` for a request paid on an EVM
// chain: what the node's view has of its transaction and, once the node
// holds the signed transaction, that transaction decoded (Tx).
type evmRequestTx struct {
	Request    string              `json:"request"`
	Kind       custody.Kind        `json:"kind"`
	Asset      string              `json:"asset"`
	Status     custody.Status      `json:"status"`
	Plan       *custody.EVMPlan    `json:"plan,omitempty"`
	Settlement *service.Settlement `json:"settlement,omitempty"`
	Tx         *evm.TxView         `json:"tx,omitempty"`
	Note       string              `json:"note,omitempty"`
}

// onEVM reports whether v is of a request paid on an EVM chain: it has an
// EVM plan or signed EVM transaction, or an EVM (0x) destination.
func onEVM(v service.View) bool {
	d := v.Request.Destination
	return v.Request.EVM != nil || v.Result != nil && v.Result.EVM != nil ||
		v.Settlement != nil && v.Settlement.Raw != "" || strings.HasPrefix(d, "0x") && common.IsHexAddress(d)
}

// showRequestEVM prints v's EVM transaction: the signed transaction in the
// node's settlement record decoded (with rpcURL, the token's symbol and
// decimals from the operator's own EVM node), or else what the view has.
func showRequestEVM(out io.Writer, v service.View, rpcURL string, asJSON bool) error {
	t := evmRequestTx{Request: v.ID, Kind: v.Request.Kind, Asset: v.Request.Asset, Status: v.Status, Plan: v.Request.EVM, Settlement: v.Settlement}
	if v.Result != nil && v.Result.EVM != nil {
		t.Plan = v.Result.EVM
	}
	if s := v.Settlement; s != nil && s.Raw != "" {
		raw, err := hex.DecodeString(strings.TrimPrefix(s.Raw, "0x"))
		if err != nil {
			return fmt.Errorf("request %.12s: the node's signed transaction: %w", v.ID, err)
		}
		if t.Tx, err = evm.Describe(raw); err != nil {
			return fmt.Errorf("request %.12s: the node's signed transaction: %w", v.ID, err)
		}
		if s.TxID != "" && !strings.EqualFold(s.TxID, t.Tx.Hash) {
			return fmt.Errorf("request %.12s: the node's signed transaction hashes to %s, its settlement names %s", v.ID, t.Tx.Hash, s.TxID)
		}
		if err := resolveToken(t.Tx, rpcURL); err != nil {
			return err
		}
		t.Settlement = &service.Settlement{TxID: s.TxID, Broadcast: s.Broadcast, Confirmations: s.Confirmations, Updated: s.Updated, Error: s.Error}
	} else {
		t.Note = fmt.Sprintf("this node holds no signed transaction for the request (status %s): ", v.Status)
		if t.Plan == nil {
			t.Note += "its transaction is planned when signing begins"
		} else {
			t.Note += "the plan above is what the signers check; the node records the signed transaction when it finalizes it"
		}
	}
	if asJSON {
		return printJSON(out, t)
	}
	t.print(out, v.Request)
	return nil
}

func (t evmRequestTx) print(out io.Writer, r custody.Request) {
	p := func(k, format string, a ...any) { fmt.Fprintf(out, "%-11s"+format+"\n", append([]any{k}, a...)...) }
	p("request", "%s: %s of %s (this node's policy symbol), status %s", t.Request, t.Kind, t.Asset, t.Status)
	if s := t.Settlement; s != nil {
		p("settlement", "%s, broadcast %t, %d confirmations%s", s.TxID, s.Broadcast, s.Confirmations, strings.TrimRight(" "+s.Error, " "))
	}
	if t.Tx != nil {
		t.Tx.Print(out)
		return
	}
	p("recipient", "%s", r.Destination)
	p("amount", "%s base units", r.BaseUnits())
	if pl := t.Plan; pl != nil {
		p("plan", "chain %d, nonce %d, gas limit %d, fee cap %s wei/gas, priority %s wei/gas", pl.ChainID, pl.Nonce, pl.Gas, pl.MaxFeePerGas, pl.MaxPriorityFeePerGas)
	}
	p("note", "%s", t.Note)
}
