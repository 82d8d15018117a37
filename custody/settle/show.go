package settle

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"

	"github.com/triad-custody/triad/custody/btc"
)

// View is a plan decoded for an operator: what the transaction spends,
// whom it pays, what it costs, and what each signature signs.
type View struct {
	RequestID string       `json:"request_id"`
	Kind      string       `json:"kind"`
	Network   string       `json:"network"`
	TxID      string       `json:"txid"`
	Source    string       `json:"source"` // custody address spent from; change returns here
	Inputs    []ViewInput  `json:"inputs"`
	Outputs   []ViewOutput `json:"outputs"`
	Fee       int64        `json:"fee"`
	VSize     int64        `json:"vsize"`
	FeeRate   float64      `json:"fee_rate"` // sat/vB, effective
	MaxFee    int64        `json:"max_fee"`  // the policy ceiling for this size
	// Unsigned is the unsigned transaction, hex; PSBT the same as BIP174
	// base64 with each input's coin, for any PSBT-aware wallet.
	Unsigned string  `json:"unsigned"`
	PSBT     string  `json:"psbt"`
	Record   *Record `json:"record,omitempty"`
}

// ViewInput is one coin spent, with the digest its signature signs.
type ViewInput struct {
	OutPoint string `json:"outpoint"`
	Value    int64  `json:"value"`
	SigHash  string `json:"sighash"`
}

// ViewOutput is one payment.
type ViewOutput struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount"`
	Role    string `json:"role"` // destination | change
}

// View decodes p for an operator.
func (p *Plan) View() (View, error) {
	params, err := btc.NetParams(p.Spend.Network)
	if err != nil {
		return View{}, err
	}
	v := View{RequestID: p.RequestID, Kind: string(p.Kind), Network: p.Spend.Network, TxID: p.TxID().String(),
		Source: p.Source, Fee: p.Fee, VSize: p.VSize, MaxFee: p.Spend.MaxFee}
	if p.VSize > 0 {
		v.FeeRate = float64(p.Fee) / float64(p.VSize)
	}
	values := map[string]int64{}
	for _, in := range p.Spend.Inputs {
		values[in.OutPoint.String()] = in.Value
	}
	for i, in := range p.Tx.TxIn {
		op := in.PreviousOutPoint.String()
		v.Inputs = append(v.Inputs, ViewInput{OutPoint: op, Value: values[op], SigHash: hex.EncodeToString(p.Digests[i][:])})
	}
	for _, out := range p.Tx.TxOut {
		addr := "unknown script " + hex.EncodeToString(out.PkScript)
		if _, addrs, _, err := txscript.ExtractPkScriptAddrs(out.PkScript, params); err == nil && len(addrs) == 1 {
			addr = addrs[0].EncodeAddress()
		}
		role := "destination"
		if addr == p.Source {
			role = "change"
		}
		v.Outputs = append(v.Outputs, ViewOutput{Address: addr, Amount: out.Value, Role: role})
	}
	var b strings.Builder
	if err := p.Tx.Serialize(hex.NewEncoder(&b)); err != nil {
		return View{}, err
	}
	v.Unsigned = b.String()
	pk, err := btc.PSBT(p.Tx, p.Spend.Inputs)
	if err != nil {
		return View{}, err
	}
	if v.PSBT, err = pk.B64Encode(); err != nil {
		return View{}, err
	}
	return v, nil
}

// Print writes v as text for an operator.
func (v View) Print(w io.Writer) {
	fmt.Fprintf(w, "request   %s (%s)\nnetwork   %s\ntxid      %s\nfrom      %s\n", v.RequestID, v.Kind, v.Network, v.TxID, v.Source)
	for _, in := range v.Inputs {
		fmt.Fprintf(w, "input     %s  %s\n          sighash %s\n", in.OutPoint, btcutil.Amount(in.Value), in.SigHash)
	}
	for _, o := range v.Outputs {
		fmt.Fprintf(w, "output    %-11s %s  %s\n", o.Role, o.Address, btcutil.Amount(o.Amount))
	}
	fmt.Fprintf(w, "fee       %s (%d vB, %.2f sat/vB; ceiling %s)\n", btcutil.Amount(v.Fee), v.VSize, v.FeeRate, btcutil.Amount(v.MaxFee))
	if r := v.Record; r != nil {
		state := "finalised, not broadcast"
		if r.Broadcast {
			state = fmt.Sprintf("broadcast, %d confirmation(s)", r.Confirmations)
		}
		fmt.Fprintf(w, "status    %s\n", state)
		if r.Batch != "" && r.Vout != nil {
			fmt.Fprintf(w, "paid by   liquidation batch %s: txid %s, output %d (the transaction above is this request alone)\n", r.Batch, r.TxID, *r.Vout)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "error     %s\n", r.Error)
		}
	}
}
