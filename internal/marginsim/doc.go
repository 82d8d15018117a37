// Package marginsim is `triad margin-sim`: a tiny margin engine that
// signs margin-call evidence (account, asset, shortfall, collateral at
// market value, exposure, price, time, nonce) with its ed25519 key and
// submits a liquidation for each call to the exchange's node, then, with
// Wait, follows each request on the node's event stream until it is final.
//
//	m := marginsim.Sim{KeyFile: "engine.key", Account: "acct-1", KeyID: "vault-1", Amount: 50000, Count: 1}
//	err := m.Run(os.Stdout, client, holdings)
//
// The key file is read when Run starts and cleared when it ends; it is
// never sent or printed.
package marginsim
