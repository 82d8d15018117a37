package rawtss

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/triad-custody/triad/tss"
)

// Sign runs one 2-of-3 signing of digest among signers, each with its
// share from shares, and returns when every party has its signature.
func Sign(shares map[string]*tss.KeyShare, signers []string, digest [32]byte) error {
	var un tsslib.UnSortedPartyIDs
	for _, n := range signers {
		if shares[n] == nil {
			return fmt.Errorf("rawtss: no share of %s", n)
		}
		un = append(un, tsslib.NewPartyID(n, n, tss.Party{ID: n, Node: n}.Key()))
	}
	ids := tsslib.SortPartyIDs(un)
	ctx := tsslib.NewPeerContext(ids)
	out := make(chan tsslib.Message, 64)
	end := make(chan *common.SignatureData, len(ids))
	parties := map[string]tsslib.Party{}
	for _, id := range ids {
		params := tsslib.NewParameters(tsslib.S256(), ctx, id, len(ids), 1)
		key := keygen.BuildLocalSaveDataSubset(shares[id.Id].Data, ids)
		parties[id.Id] = signing.NewLocalParty(new(big.Int).SetBytes(digest[:]), params, key, out, end, 32)
	}
	errc := make(chan error, 64)
	for _, p := range parties {
		go func() {
			if err := p.Start(); err != nil {
				errc <- err
			}
		}()
	}
	for done := 0; done < len(parties); {
		select {
		case m := <-out:
			wire, routing, err := m.WireBytes()
			if err != nil {
				return err
			}
			for _, id := range ids {
				if id.Id == routing.From.Id || routing.To != nil && routing.To[0].Id != id.Id {
					continue
				}
				dst := parties[id.Id]
				go func() {
					if _, err := dst.UpdateFromBytes(wire, routing.From, routing.IsBroadcast); err != nil {
						errc <- err
					}
				}()
			}
		case <-end:
			done++
		case err := <-errc:
			return err
		}
	}
	return nil
}
