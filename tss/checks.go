package tss

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// The check of each message type; fields.go has the table and the helpers.

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkKGRound1(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*keygen.KGRound1Message)
	if err := commitment("commitment", m.GetCommitment()); err != nil {
		return err
	}
	_, err := ringPedersen(m.GetPaillierN(), m.GetNTilde(), m.GetH1(), m.GetH2(), m.GetDlnproof_1(), m.GetDlnproof_2())
	return err
}

// checkKGRound2Share: tss-lib v2.0.2 accepts a share without its
// factorisation proof (BitForge defence); Triad does not.
func checkKGRound2Share(c tsslib.MessageContent, f *fieldCtx) error {
	m := c.(*keygen.KGRound2Message1)
	return firstErr(scalar("share", m.GetShare()), facProof(m.GetFacProof(), f.self))
}

// checkKGRound2Decommit requires the modulus proof and the VSS length that
// tss-lib master checks and v2.0.2 does not: the decommitted polynomial has
// exactly threshold+1 points.
func checkKGRound2Decommit(c tsslib.MessageContent, f *fieldCtx) error {
	m := c.(*keygen.KGRound2Message2)
	if err := modProof(m.GetModProof(), maxMod); err != nil {
		return err
	}
	return decommitPoints(fmt.Sprintf("VSS decommitment (threshold %d)", f.threshold), m.GetDeCommitment(), f.threshold+1)
}

func checkKGRound3(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*keygen.KGRound3Message)
	if err := needParts("Paillier proof", m.GetPaillierProof(), paillier.ProofIters); err != nil {
		return err
	}
	return mustBelowMod("Paillier proof", m.GetPaillierProof())
}

func checkCommitment(c tsslib.MessageContent, _ *fieldCtx) error {
	var b []byte
	switch m := c.(type) {
	case *signing.SignRound1Message2:
		b = m.GetCommitment()
	case *signing.SignRound5Message:
		b = m.GetCommitment()
	case *signing.SignRound7Message:
		b = m.GetCommitment()
	default:
		return fmt.Errorf("%w: %T has no commitment", ErrMalformed, c)
	}
	return commitment("commitment", b)
}

// checkSignRound1MtA: the sender's Paillier ciphertext of k and its range
// proof. A c outside Z*_{N²} crashes tss-lib v2.0.2 on a goroutine.
func checkSignRound1MtA(c tsslib.MessageContent, f *fieldCtx) error {
	m := c.(*signing.SignRound1Message1)
	if err := firstErr(known("MtA sender", f.from), known("MtA receiver", f.self)); err != nil {
		return err
	}
	if err := unit("MtA ciphertext c", m.GetC(), f.from.nSquare(), f.from.N); err != nil {
		return err
	}
	return rangeProofAlice(m.GetRangeProofAlice(), f.from, f.self)
}

// checkSignRound2: Bob's answers are ciphertexts under the receiver's
// Paillier key, proved against the receiver's Ñ.
func checkSignRound2(c tsslib.MessageContent, f *fieldCtx) error {
	m := c.(*signing.SignRound2Message)
	if err := known("MtA receiver", f.self); err != nil {
		return err
	}
	n2 := f.self.nSquare()
	return firstErr(
		unit("MtA ciphertext c1", m.GetC1(), n2, f.self.N),
		unit("MtA ciphertext c2", m.GetC2(), n2, f.self.N),
		proofBob("Bob proof", m.GetProofBob(), f.self, false),
		proofBob("Bob proof with check", m.GetProofBobWc(), f.self, true),
	)
}

func checkSignRound3(c tsslib.MessageContent, _ *fieldCtx) error {
	return below("theta", c.(*signing.SignRound3Message).GetTheta(), curveQ, false)
}

func checkSignRound4(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*signing.SignRound4Message)
	return firstErr(
		decommitPoints("Gamma decommitment", m.GetDeCommitment(), 1),
		point("Schnorr proof alpha", m.GetProofAlphaX(), m.GetProofAlphaY()),
		scalar("Schnorr proof t", m.GetProofT()),
	)
}

func checkSignRound6(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*signing.SignRound6Message)
	return firstErr(
		decommitPoints("V, A decommitment", m.GetDeCommitment(), 2),
		point("Schnorr proof alpha", m.GetProofAlphaX(), m.GetProofAlphaY()),
		scalar("Schnorr proof t", m.GetProofT()),
		point("V proof alpha", m.GetVProofAlphaX(), m.GetVProofAlphaY()),
		scalar("V proof t", m.GetVProofT()),
		scalar("V proof u", m.GetVProofU()),
	)
}

func checkSignRound8(c tsslib.MessageContent, _ *fieldCtx) error {
	return decommitPoints("U, T decommitment", c.(*signing.SignRound8Message).GetDeCommitment(), 2)
}

func checkSignRound9(c tsslib.MessageContent, _ *fieldCtx) error {
	return scalar("signature share", c.(*signing.SignRound9Message).GetS())
}

func checkDGRound1(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*resharing.DGRound1Message)
	return firstErr(
		point("public key", m.GetEcdsaPubX(), m.GetEcdsaPubY()),
		commitment("VSS commitment", m.GetVCommitment()),
		commitment("SSID", m.GetSsid()),
	)
}

// checkDGRound2: a new member's Paillier key and ring-Pedersen parameters.
// tss-lib v2.0.2 resharing checks no modulus size and takes the modulus
// proof as optional.
func checkDGRound2(c tsslib.MessageContent, _ *fieldCtx) error {
	m := c.(*resharing.DGRound2Message1)
	n, err := ringPedersen(m.GetPaillierN(), m.GetNTilde(), m.GetH1(), m.GetH2(), m.GetDlnproof_1(), m.GetDlnproof_2())
	if err != nil {
		return err
	}
	return modProof(m.GetModProof(), n)
}

func checkDGRound3Share(c tsslib.MessageContent, _ *fieldCtx) error {
	return scalar("share", c.(*resharing.DGRound3Message1).GetShare())
}

func checkDGRound3Decommit(c tsslib.MessageContent, f *fieldCtx) error {
	m := c.(*resharing.DGRound3Message2)
	return decommitPoints(fmt.Sprintf("VSS decommitment (threshold %d)", f.threshold), m.GetVDecommitment(), f.threshold+1)
}

func checkDGRound4(c tsslib.MessageContent, f *fieldCtx) error {
	return facProof(c.(*resharing.DGRound4Message1).GetFacProof(), f.self)
}
