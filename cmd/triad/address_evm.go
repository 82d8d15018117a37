package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody/evm"
)

// The chains `triad address --chain` knows.
const (
	chainBitcoin = "bitcoin"
	chainEVM     = "evm"
)

// checkChainFlag refuses an unknown --chain, and --network with evm.
func checkChainFlag(chain, network string) error {
	switch chain {
	case chainBitcoin:
		return nil
	case chainEVM:
		if network != "" {
			return userErr("--network is for --chain bitcoin; an EVM address is the same on every EVM chain")
		}
		return nil
	}
	return userErr("--chain: want bitcoin or evm, got %q", chain)
}

// evmAddressView is `triad address --chain evm`'s answer.
type evmAddressView struct {
	Chain          string `json:"chain"`
	KeyID          string `json:"key_id"`
	Path           string `json:"path"`
	GroupPublicKey string `json:"group_public_key"`
	PublicKey      string `json:"public_key"`
	Address        string `json:"address"` // EIP-55
}

// printEVMAddress shows the EVM address of the key in res (the node's own
// derivation, or --pubkey's), after deriving the child from the group key
// here as well: the two must agree.
func printEVMAddress(out io.Writer, res api.AddressResponse, asJSON bool) error {
	group, err := parseHexKey(res.GroupPublicKey)
	if err != nil {
		return fmt.Errorf("the node's group key: %w", err)
	}
	acct, err := evm.DeriveAccount(group, orRoot(res.Path))
	if err != nil {
		return userErr("--path: %v", err)
	}
	if got := hex.EncodeToString(acct.Public.SerializeCompressed()); got != res.PublicKey {
		return fmt.Errorf("the node derives %s along %s, this CLI %s: not showing an address", res.PublicKey, res.Path, got)
	}
	v := evmAddressView{Chain: chainEVM, KeyID: res.KeyID, Path: acct.Path, GroupPublicKey: res.GroupPublicKey,
		PublicKey: res.PublicKey, Address: acct.Address.Hex()}
	if asJSON {
		return printJSON(out, v)
	}
	_, err = fmt.Fprintf(out, "address    %s\nchain      evm (EIP-55)\nkey        %s %s\npublic key %s\ngroup key  %s\n",
		v.Address, v.KeyID, v.Path, v.PublicKey, v.GroupPublicKey)
	return err
}

func parseHexKey(s string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("not hex")
	}
	return btcec.ParsePubKey(b)
}
