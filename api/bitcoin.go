package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/custody/settle"
	"github.com/triad-custody/triad/node/keystore"
)

// registerBitcoin adds the Bitcoin settlement endpoints. New calls it
// (one line, after registerCustody); a second call does nothing.
func (s *Server) registerBitcoin() {
	for _, r := range s.routes {
		if r.Path == "/v1/bitcoin/address" {
			return
		}
	}
	s.Handle("GET /v1/bitcoin/address", allRoles, s.bitcoinAddress)
	if s.svc != nil {
		s.Handle("GET /v1/requests/{id}/tx", allRoles, s.requestTx)
	}
}

// AddressResponse is GET /v1/bitcoin/address?key_id=ID[&path=m/0/7][&network=regtest]:
// the custody address this node derives from its own share of the key.
type AddressResponse struct {
	KeyID          string `json:"key_id"`
	Path           string `json:"path"`
	Network        string `json:"network"`
	GroupPublicKey string `json:"group_public_key"` // compressed, hex
	PublicKey      string `json:"public_key"`       // the derived child's, compressed, hex
	ChainCode      string `json:"chain_code"`       // public: derived from the group key
	Address        string `json:"address"`          // P2WPKH
}

func (s *Server) bitcoinAddress(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	keyID, path, network := q.Get("key_id"), q.Get("path"), q.Get("network")
	if network == "" {
		network = s.network
	}
	if path == "" {
		path = "m"
	}
	if _, err := btc.NetParams(network); err != nil {
		writeError(w, http.StatusBadRequest, "bad_network", err.Error())
		return
	}
	if _, err := btc.ParsePath(path); err != nil {
		writeError(w, http.StatusBadRequest, "bad_path", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	share, err := s.rt.Keys.Load(ctx, keyID)
	if errors.Is(err, keystore.ErrNoKey) || keyID == "" {
		writeError(w, http.StatusNotFound, "no_key", "this node holds no share of key "+keyID)
		return
	} else if err != nil {
		writeError(w, http.StatusServiceUnavailable, "key_unavailable", "loading the key share failed")
		s.log.Warn("bitcoin address: loading key share", "key", keyID, "err", err)
		return
	}
	group, err := share.PublicKey()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	child, err := settle.DeriveAddressKey(group, path)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_path", err.Error())
		return
	}
	addr, err := btc.CustodyAddress(child, network)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, AddressResponse{KeyID: keyID, Path: path, Network: network,
		GroupPublicKey: hex.EncodeToString(group.SerializeCompressed()), PublicKey: hex.EncodeToString(child.SerializeCompressed()),
		ChainCode: hex.EncodeToString(btc.ChainCode(group)), Address: addr.String()})
}

// requestTx is GET /v1/requests/{id}/tx: the request's transaction as this
// node builds it from the typed request, its plan (the coins reserved when
// signing began), its own policy and its own key share (settle.View), with
// this node's settlement record if any.
func (s *Server) requestTx(w http.ResponseWriter, r *http.Request, _ string) {
	v, err := s.svc.Get(r.PathValue("id"))
	if err != nil {
		custodyError(w, err)
		return
	}
	if p := v.Request.EVM; p != nil || v.Result != nil && v.Result.EVM != nil {
		if p == nil {
			p = v.Result.EVM
		}
		writeError(w, http.StatusNotFound, "no_transaction", fmt.Sprintf("request is paid on EVM chain %d, not in Bitcoin: its plan is the view's result.evm and "+
			"its transaction hash and signed transaction the view's settlement.txid and settlement.raw; triad tx show --request decodes it", p.ChainID))
		return
	}
	if len(v.Request.Inputs) == 0 {
		writeError(w, http.StatusNotFound, "no_transaction", "no coins are reserved for this request at this node: its transaction is planned when signing begins")
		return
	}
	st, err := settle.New(settle.Config{Network: s.network, Policy: s.policy, Keys: s.rt.Keys, Records: s.svc.Store()})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "bitcoin_unconfigured", err.Error())
		return
	}
	plan, err := st.Plan(r.Context(), v.Request)
	if err != nil {
		code, name := http.StatusUnprocessableEntity, "not_buildable"
		if errors.Is(err, settle.ErrNotSettled) {
			code, name = http.StatusNotFound, "no_transaction"
		}
		writeError(w, code, name, err.Error())
		return
	}
	view, err := plan.View()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if rec, ok, err := st.Record(plan.RequestID); err == nil && ok {
		view.Record = &rec
	}
	writeJSON(w, http.StatusOK, view)
}
