package main

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/spf13/cobra"

	"github.com/triad-custody/triad/api"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
)

func init() { addCommand(newAddressCmd) }

func newAddressCmd() *cobra.Command {
	var f clientFlags
	var keyID, path, network, pubHex, chain string
	var asJSON bool
	c := &cobra.Command{
		Use:   "address --config FILE --key-id ID [--path m/0/7] [--network regtest] [--chain evm]",
		Short: "Show the custody address (P2WPKH, or EVM with --chain evm) of a threshold key or of a client's derived child key",
		Long: `Show the custody address of a threshold key, as the node derives it from its own key share:
the group key itself, or its BIP32 non-hardened child along --path (per-client addresses).
Every node derives the same address independently; compare them before funding an address.

With --pubkey (the group public key, compressed hex) the address is derived here, without a node.
With --chain evm the address is the Ethereum address of the same key, EIP-55 checksummed.`,
		Example: `  triad address --config configs/custodian.yaml --key-id vault-1
  triad address --config configs/exchange.yaml --key-id vault-1 --path m/0/7 --network regtest
  triad address --pubkey 02ab... --path m/0/7 --network testnet3
  triad address --config configs/custodian.yaml --key-id vault-1 --path m/0/7 --chain evm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := btc.ParsePath(orRoot(path)); err != nil {
				return userErr("--path: %v", err)
			}
			if err := checkChainFlag(chain, network); err != nil {
				return err
			}
			var res api.AddressResponse
			if pubHex != "" {
				r, err := localAddress(pubHex, orRoot(path), orMainnet(network))
				if err != nil {
					return err
				}
				res = r
				res.KeyID = keyID
			} else {
				if keyID == "" {
					return userErr("give --key-id (or --pubkey to derive without a node)")
				}
				cl, err := f.client()
				if err != nil {
					return err
				}
				ctx, cancel := withTimeout(30 * time.Second)
				defer cancel()
				q := url.Values{"key_id": {keyID}, "path": {orRoot(path)}}
				if network != "" {
					q.Set("network", network)
				}
				if err := cl.Do(ctx, "GET", "/v1/bitcoin/address?"+q.Encode(), nil, &res); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if chain == chainEVM {
				return printEVMAddress(out, res, asJSON)
			}
			if asJSON {
				return printJSON(out, res)
			}
			fmt.Fprintf(out, "address    %s\nnetwork    %s\nkey        %s %s\npublic key %s\ngroup key  %s\n",
				res.Address, res.Network, res.KeyID, res.Path, res.PublicKey, res.GroupPublicKey)
			return nil
		},
	}
	f.register(c, "operator")
	c.Flags().StringVar(&keyID, "key-id", "", "threshold key ID")
	c.Flags().StringVar(&path, "path", "m", "BIP32 non-hardened derivation path, e.g. m/0/7")
	c.Flags().StringVar(&network, "network", "", "mainnet | testnet3 | regtest | simnet (default: the node's bitcoin.network)")
	c.Flags().StringVar(&pubHex, "pubkey", "", "group public key (compressed hex): derive here, without a node")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&chain, "chain", chainBitcoin, "bitcoin | evm")
	return c
}

// localAddress derives an address from a group public key alone.
func localAddress(pubHex, path, network string) (api.AddressResponse, error) {
	b, err := hex.DecodeString(pubHex)
	if err != nil {
		return api.AddressResponse{}, userErr("--pubkey: not hex")
	}
	group, err := btcec.ParsePubKey(b)
	if err != nil {
		return api.AddressResponse{}, userErr("--pubkey: %v", err)
	}
	child, err := settle.DeriveAddressKey(group, path)
	if err != nil {
		return api.AddressResponse{}, userErr("--path: %v", err)
	}
	addr, err := btc.CustodyAddress(child, network)
	if err != nil {
		return api.AddressResponse{}, userErr("--network: %v", err)
	}
	return api.AddressResponse{Path: path, Network: network, GroupPublicKey: hex.EncodeToString(group.SerializeCompressed()),
		PublicKey: hex.EncodeToString(child.SerializeCompressed()), ChainCode: hex.EncodeToString(btc.ChainCode(group)),
		Address: addr.String()}, nil
}

func orRoot(path string) string {
	if path == "" {
		return "m"
	}
	return path
}

func orMainnet(network string) string {
	if network == "" {
		return "mainnet"
	}
	return network
}
