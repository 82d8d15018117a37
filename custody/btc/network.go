package btc

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// Networks lists the network names NetParams accepts.
var Networks = []string{"mainnet", "testnet3", "regtest", "simnet"}

// NetParams maps a network name to its chain parameters. Accepted names are
// those in Networks; "testnet" is an alias for "testnet3".
func NetParams(name string) (*chaincfg.Params, error) {
	switch name {
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	case "testnet3", "testnet":
		return &chaincfg.TestNet3Params, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	}
	return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownNetwork, name, Networks)
}

// CustodyAddress returns the P2WPKH address of pub (the compressed key) on
// the named network. It is used for the group key and for derived child keys.
func CustodyAddress(pub *btcec.PublicKey, network string) (*btcutil.AddressWitnessPubKeyHash, error) {
	params, err := NetParams(network)
	if err != nil {
		return nil, err
	}
	if pub == nil {
		return nil, fmt.Errorf("custody address: %w: nil", ErrBadPublicKey)
	}
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), params)
	if err != nil {
		return nil, fmt.Errorf("custody address: %w: %v", ErrBadPublicKey, err)
	}
	return addr, nil
}

// P2WPKHScript returns the output script (OP_0 <hash160(pub)>) locking coins
// to pub.
func P2WPKHScript(pub *btcec.PublicKey) ([]byte, error) {
	if pub == nil {
		return nil, fmt.Errorf("p2wpkh script: %w: nil", ErrBadPublicKey)
	}
	return txscript.NewScriptBuilder().AddOp(txscript.OP_0).
		AddData(btcutil.Hash160(pub.SerializeCompressed())).Script()
}

// DecodeAddress parses a destination address for the named network and
// returns its output script. Only standard single-destination types are
// accepted: P2PKH, P2SH, P2WPKH, P2WSH and P2TR. Bare public keys, which
// btcutil also parses as "addresses", are refused.
func DecodeAddress(addr, network string) ([]byte, error) {
	params, err := NetParams(network)
	if err != nil {
		return nil, err
	}
	if len(addr) == 0 || len(addr) > 100 {
		return nil, fmt.Errorf("%w: length %d", ErrBadAddress, len(addr))
	}
	a, err := btcutil.DecodeAddress(addr, params)
	if err != nil {
		if other := networkOf(addr); other != "" {
			return nil, fmt.Errorf("%w: %q is a %s address, want %s", ErrWrongNetwork, addr, other, network)
		}
		return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	switch a.(type) {
	case *btcutil.AddressPubKeyHash, *btcutil.AddressScriptHash,
		*btcutil.AddressWitnessPubKeyHash, *btcutil.AddressWitnessScriptHash,
		*btcutil.AddressTaproot:
	default:
		return nil, fmt.Errorf("%w: %q: unsupported address type %T", ErrBadAddress, addr, a)
	}
	if !a.IsForNet(params) {
		return nil, fmt.Errorf("%w: %q is not a %s address", ErrWrongNetwork, addr, network)
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	return script, nil
}

// networkOf names a network on which addr decodes, or "" if none does. It
// only serves to turn "bad address" into the clearer "wrong network".
func networkOf(addr string) string {
	for _, name := range Networks {
		params, _ := NetParams(name)
		if a, err := btcutil.DecodeAddress(addr, params); err == nil && a.IsForNet(params) {
			return name
		}
	}
	return ""
}
