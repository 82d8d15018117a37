package btc

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/wire"
)

const (
	searchPageSize = 100
	searchMaxPages = 1000 // 100k transactions per address at most
)

// searchAddress returns every transaction (confirmed, then mempool) that
// pays or spends from address, via btcd's address index.
func (c *Client) searchAddress(ctx context.Context, address string) ([]*wire.MsgTx, error) {
	var out []*wire.MsgTx
	for page := 0; page < searchMaxPages; page++ {
		verbose, skip, count := 0, page*searchPageSize, searchPageSize
		var hexTxs []string
		err := c.call(ctx, btcjson.NewSearchRawTransactionsCmd(address, &verbose, &skip, &count, nil, nil, nil), &hexTxs)
		if code, ok := rpcCode(err); ok && code == btcjson.ErrRPCNoTxInfo {
			return out, nil // address unused, or no more pages
		}
		if err != nil {
			return nil, err
		}
		for _, h := range hexTxs {
			raw, err := hex.DecodeString(h)
			if err != nil {
				return nil, fmt.Errorf("%w: searchrawtransactions: bad hex: %v", ErrRPC, err)
			}
			tx := wire.NewMsgTx(wire.TxVersion)
			if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
				return nil, fmt.Errorf("%w: searchrawtransactions: bad tx: %v", ErrRPC, err)
			}
			out = append(out, tx)
		}
		if len(hexTxs) < searchPageSize {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: searchrawtransactions: more than %d transactions", ErrRPC, searchPageSize*searchMaxPages)
}

func sortUnspent(us []Unspent) {
	sort.Slice(us, func(i, j int) bool {
		a, b := us[i].OutPoint, us[j].OutPoint
		if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
			return c < 0
		}
		return a.Index < b.Index
	})
}
