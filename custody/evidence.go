package custody

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"
)

const (
	evidenceDomain = "triad/margin-call/v1\n"
	maxHoldings    = 16
)

// Holding is one line of an account's collateral at market value, in quote
// minor units (e.g. USD cents), before any haircut. Each node applies its own
// configured collateral factor.
type Holding struct {
	Asset string `json:"asset"`
	Value uint64 `json:"value"`
}

// MarginCall is the margin engine's signed evidence for a liquidation. The
// engine signs SigningBytes with its own ed25519 key; every node checks the
// signature against the configured margin-engine keys.
//
// Units: Shortfall is in base units of Asset (satoshis): how much collateral
// the engine asks to sell. Exposure and Holding values are quote minor units.
// Price is quote minor units per whole unit of Asset.
type MarginCall struct {
	Account    string    `json:"account"`
	Asset      string    `json:"asset"`
	Shortfall  uint64    `json:"shortfall"`
	Collateral []Holding `json:"collateral"`
	Exposure   uint64    `json:"exposure"`
	Price      uint64    `json:"price"`
	Time       time.Time `json:"time"`
	Nonce      string    `json:"nonce"`
	Signature  []byte    `json:"signature,omitempty"`
}

func (m MarginCall) normalize() MarginCall {
	m.Time = normTime(m.Time)
	m.Collateral = append([]Holding(nil), m.Collateral...)
	m.Signature = append([]byte(nil), m.Signature...)
	if len(m.Signature) == 0 {
		m.Signature = nil
	}
	return m
}

// SigningBytes is what the margin engine signs: a domain tag and the
// canonical JSON of the call without its signature.
func (m MarginCall) SigningBytes() []byte {
	m = m.normalize()
	m.Signature = nil
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("custody: encoding margin call: %v", err))
	}
	return append([]byte(evidenceDomain), b...)
}

// SignMarginCall signs m with the margin engine's key (used by the engine and
// by tests). The key never leaves this function.
func SignMarginCall(m MarginCall, key ed25519.PrivateKey) MarginCall {
	m = m.normalize()
	m.Signature = ed25519.Sign(key, m.SigningBytes())
	return m
}

// VerifyMarginCall checks m's signature against any of the given keys.
func VerifyMarginCall(m MarginCall, keys []ed25519.PublicKey) error {
	msg := m.SigningBytes()
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, m.Signature) {
			return nil
		}
	}
	return fmt.Errorf("verifying margin-call evidence for account %q: %w", clip(m.Account), ErrBadSignature)
}

func (m MarginCall) validate() error {
	if err := checkIdent("evidence.account", m.Account); err != nil {
		return err
	}
	if err := checkAsset("evidence.asset", m.Asset); err != nil {
		return err
	}
	if m.Shortfall == 0 || m.Shortfall > MaxAmount {
		return malformed("evidence.shortfall", "must be 1..%d base units", uint64(MaxAmount))
	}
	if len(m.Collateral) == 0 || len(m.Collateral) > maxHoldings {
		return malformed("evidence.collateral", "must list 1..%d holdings", maxHoldings)
	}
	seen := map[string]bool{}
	for _, h := range m.Collateral {
		if err := checkAsset("evidence.collateral.asset", h.Asset); err != nil {
			return err
		}
		if seen[h.Asset] {
			return malformed("evidence.collateral", "asset %s listed twice", h.Asset)
		}
		seen[h.Asset] = true
		if h.Value > MaxAmount {
			return malformed("evidence.collateral.value", "must be at most %d", uint64(MaxAmount))
		}
	}
	if m.Exposure > MaxAmount {
		return malformed("evidence.exposure", "must be at most %d", uint64(MaxAmount))
	}
	if m.Price == 0 || m.Price > MaxAmount {
		return malformed("evidence.price", "must be 1..%d", uint64(MaxAmount))
	}
	if err := checkTime("evidence.time", m.Time); err != nil {
		return err
	}
	if err := checkIdent("evidence.nonce", m.Nonce); err != nil {
		return err
	}
	if len(m.Signature) != ed25519.SignatureSize {
		return malformed("evidence.signature", "must be %d bytes", ed25519.SignatureSize)
	}
	return nil
}
