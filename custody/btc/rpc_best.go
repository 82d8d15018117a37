package btc

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// BestBlock returns the node's best block, height and hash read together
// (btcd's getbestblock), so the pair always names one block.
func (c *Client) BestBlock(ctx context.Context) (int64, string, error) {
	var res btcjson.GetBestBlockResult
	if err := c.call(ctx, btcjson.NewGetBestBlockCmd(), &res); err != nil {
		return 0, "", fmt.Errorf("getbestblock: %w", err)
	}
	h, err := chainhash.NewHashFromStr(res.Hash)
	if err != nil || res.Height < 0 || len(res.Hash) != 2*chainhash.HashSize {
		return 0, "", fmt.Errorf("getbestblock: %w: height %d hash %q", ErrRPC, res.Height, clipText([]byte(res.Hash)))
	}
	return int64(res.Height), h.String(), nil
}
