package tss

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// Field checks (../shared/SECURITY.md scenario 25): every big integer of every
// tss-lib v2.0.2 message is checked against the sender's and the receiver's
// public parameters before Update, for the facts tss-lib's arithmetic
// assumes. tss-lib verifies several proofs on goroutines of its own, where
// a panic kills the process and no recover (protect) can reach; these
// checks are what keeps a peer's bytes from getting there.
//
// Where tss-lib verifies on a goroutine, and what breaks it:
//
//	signing round 2, BobMid/BobMidWC (RangeProofAlice.Verify): Exp(c, -e) mod N²
//	    is nil when gcd(c, N) ≠ 1 (c = 0, N², a multiple of p) → SIGSEGV.
//	    Covered: SignRound1Message1.C ∈ Z*_{N²} of the sender.
//	signing round 3, AliceEnd/AliceEndWC (ProofBob[WC].Verify): ScalarBaseMult(s1 mod q)
//	    panics when s1 ≡ 0 mod q; sk.Decrypt refuses bad c2 with an error.
//	    Covered: s1 mod q ≠ 0, U on the curve, C1/C2 ∈ Z*_{N²} of the receiver.
//	keygen round 2, DLN verifier (UnmarshalDLNProof, dlnproof.Verify): the
//	    parser slices with a length prefix taken as int64 and panics on a
//	    crafted one (found by the keygen field fuzzer). Covered: the framing
//	    (128, α_0..α_127, 128, t_0..t_127) exactly; Ñ is 2048 bits and odd,
//	    h1, h2 ∈ Z*_Ñ, h1 ≠ h2, proof parts < Ñ.
//	keygen round 3, VSS/modulus/factorisation check: big.Jacobi(W, N) panics for
//	    an even N; ScalarBaseMult(share) panics for share ≡ 0 mod q; a short
//	    decommitment indexes past the end of the points.
//	    Covered: Paillier N odd and 2048 bits; share ∈ (0, q); decommitment of
//	    1+2(t+1) parts, every point on the curve.
//	keygen round 4, Paillier proof (paillier.Proof.Verify, GenerateXs): loops
//	    for ever for N ≤ 1. Covered: N checked in round 1, proof parts < 2^2048.
//	resharing round 4 (new committee), modulus proof and DLN verifier: Jacobi
//	    panics for an even N, the DLN parser as in keygen; tss-lib checks no
//	    modulus size here at all.
//	    Covered: DGRound2Message1 as KGRound1Message, modulus-proof parts < N.
//	modproof.Verify and paillier.Proof.Verify spawn goroutines of their own:
//	    only modular exponentiations with a positive modulus once N is checked.
//
// Panics on tss-lib's own goroutine (protect recovers them, the checks keep
// them from happening): Schnorr proofs with t ≡ 0 or u ≡ 0 mod q (signing
// rounds 5 and 7), a sum of θ that is 0 mod q (round 5, R·nil; depends on
// every θ and is left to protect).
//
// Every message type and its check:
//
//	Keygen
//	  KGRound1Message   commitment 1..32 bytes; Paillier N odd, 2048 bits; Ñ odd, 2048 bits;
//	                    h1, h2 ∈ Z*_Ñ, h1 ≠ h2; DLN proofs framed 128+128, α_i, t_i < Ñ  checkKGRound1
//	  KGRound2Message1  share ∈ (0, q); factorisation proof of 11 parts with P, Q, A, B, T
//	                    ∈ Z*_Ñ of the receiver                                       checkKGRound2Share
//	  KGRound2Message2  decommitment of 1+2(t+1) parts, points on the curve; modulus
//	                    proof of 163 parts, W, X_i, Z_i ∈ (0, 2^2048)               checkKGRound2Decommit
//	  KGRound3Message   13 Paillier proof parts, each < 2^2048                       checkKGRound3
//	Sign
//	  SignRound1Message1 C ∈ Z*_{N_s²}; range proof z, w ∈ Z*_{Ñ_r}, u ∈ Z*_{N_s²},
//	                    s ∈ Z*_{N_s}, q ≤ s1 ≤ q³, s2 ≥ q                             checkSignRound1MtA
//	  SignRound1Message2 commitment 1..32 bytes                                      checkCommitment
//	  SignRound2Message  C1, C2 ∈ Z*_{N_r²}; both Bob proofs: z, z', t, w ∈ Z*_{Ñ_r},
//	                    v ∈ Z*_{N_r²}, s ∈ Z*_{N_r}, q ≤ s1 ≤ q³, s1 mod q ≠ 0,
//	                    s2, t2 ≥ q, q ≤ t1 ≤ q⁷; U on the curve                     checkSignRound2
//	  SignRound3Message  θ ∈ [0, q)                                                  checkSignRound3
//	  SignRound4Message  decommitment of 3 parts, Γ on the curve; α on the curve, t ∈ (0, q)
//	                                                                                 checkSignRound4
//	  SignRound5Message  commitment 1..32 bytes                                      checkCommitment
//	  SignRound6Message  decommitment of 5 parts, V and A on the curve; both α on the
//	                    curve; t, t', u ∈ (0, q)                                     checkSignRound6
//	  SignRound7Message  commitment 1..32 bytes                                      checkCommitment
//	  SignRound8Message  decommitment of 5 parts, U and T on the curve               checkSignRound8
//	  SignRound9Message  s ∈ (0, q)                                                  checkSignRound9
//	Reshare
//	  DGRound1Message   public key on the curve; commitment 1..32 bytes; SSID 1..32 bytes
//	                                                                                 checkDGRound1
//	  DGRound2Message1  as KGRound1Message, and a modulus proof of 163 parts with W,
//	                    X_i, Z_i ∈ (0, N)                                            checkDGRound2
//	  DGRound2Message2  no fields                                                    -
//	  DGRound3Message1  share ∈ (0, q)                                               checkDGRound3Share
//	  DGRound3Message2  decommitment of 1+2(t'+1) parts, points on the curve         checkDGRound3Decommit
//	  DGRound4Message1  factorisation proof as KGRound2Message1                      checkDGRound4
//	  DGRound4Message2  no fields                                                    -
//
// N_s is the sender's Paillier modulus, N_r and Ñ_r the receiver's (this
// session's own); signing knows both from the key share, keygen and
// resharing know their own from the pre-params and check what a sender says
// of itself within its own message.

// pubParams are a participant's public Paillier and ring-Pedersen
// parameters.
type pubParams struct {
	N, NTilde *big.Int
}

func (p *pubParams) nSquare() *big.Int { return new(big.Int).Mul(p.N, p.N) }

// fieldCtx is what a message's check may use besides the message.
type fieldCtx struct {
	threshold int
	// from and self are the sender's and this participant's parameters;
	// nil where the session does not know them.
	from, self *pubParams
}

// modulusBits is the size tss-lib v2.0.2 keygen requires of Paillier N and Ñ.
const modulusBits = 2048

var (
	curveQ  = tsslib.S256().Params().N
	curveP  = tsslib.S256().Params().P
	curveQ3 = new(big.Int).Exp(curveQ, big.NewInt(3), nil)
	curveQ7 = new(big.Int).Exp(curveQ, big.NewInt(7), nil)
	bigOne  = big.NewInt(1)
	maxMod  = new(big.Int).Lsh(bigOne, modulusBits)
)

func bad(field, why string) error {
	return fmt.Errorf("%w: %s %s", ErrMalformed, field, why)
}

func known(field string, p *pubParams) error {
	if p == nil || p.N == nil || p.NTilde == nil {
		return bad(field, "cannot be checked: parameters unknown")
	}
	return nil
}

// unit requires x ∈ Z*_n: 0 < x < n and gcd(x, n) = 1. mod is the modulus
// whose factors count (N for N²).
func unit(field string, b []byte, n, mod *big.Int) error {
	x := new(big.Int).SetBytes(b)
	if x.Sign() == 0 || x.Cmp(n) >= 0 {
		return bad(field, "out of range")
	}
	if new(big.Int).GCD(nil, nil, x, mod).Cmp(bigOne) != 0 {
		return bad(field, "shares a factor with the modulus")
	}
	return nil
}

// below requires 0 ≤ x < n (0 < x < n when positive).
func below(field string, b []byte, n *big.Int, positive bool) error {
	x := new(big.Int).SetBytes(b)
	if x.Cmp(n) >= 0 || (positive && x.Sign() == 0) {
		return bad(field, "out of range")
	}
	return nil
}

// between requires lo ≤ x ≤ hi (hi nil: no upper bound beyond checkBounds).
func between(field string, b []byte, lo, hi *big.Int) error {
	x := new(big.Int).SetBytes(b)
	if x.Cmp(lo) < 0 || (hi != nil && x.Cmp(hi) > 0) {
		return bad(field, "out of range")
	}
	return nil
}

func scalar(field string, b []byte) error { return below(field, b, curveQ, true) }

// point requires (x, y) to be a point of secp256k1 other than infinity.
func point(field string, xb, yb []byte) error {
	x, y := new(big.Int).SetBytes(xb), new(big.Int).SetBytes(yb)
	if x.Cmp(curveP) >= 0 || y.Cmp(curveP) >= 0 || !tsslib.S256().IsOnCurve(x, y) {
		return bad(field, "is not a point on the curve")
	}
	return nil
}

func commitment(field string, b []byte) error {
	if len(b) == 0 || len(b) > 32 {
		return bad(field, fmt.Sprintf("is %d bytes, want 1 to 32", len(b)))
	}
	return nil
}

// modulus requires an odd number of exactly modulusBits bits.
func modulus(field string, b []byte) (*big.Int, error) {
	n := new(big.Int).SetBytes(b)
	if n.BitLen() != modulusBits || n.Bit(0) == 0 {
		return nil, bad(field, fmt.Sprintf("must be odd and %d bits", modulusBits))
	}
	return n, nil
}

// decommitPoints requires a hash decommitment of a random value and the
// coordinates of want points, each on the curve.
func decommitPoints(field string, parts [][]byte, want int) error {
	if len(parts) != 1+2*want {
		return bad(field, fmt.Sprintf("has %d parts, want %d", len(parts), 1+2*want))
	}
	for i := 1; i < len(parts); i += 2 {
		if err := point(fmt.Sprintf("%s point %d", field, i/2), parts[i], parts[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// ringPedersen checks a sender's own Paillier modulus, Ñ, h1, h2 and DLN
// proofs (keygen round 1, resharing round 2).
func ringPedersen(paillierN, nTilde, h1, h2 []byte, dln1, dln2 [][]byte) (*big.Int, error) {
	n, err := modulus("Paillier N", paillierN)
	if err != nil {
		return nil, err
	}
	nt, err := modulus("NTilde", nTilde)
	if err != nil {
		return nil, err
	}
	if err := unit("h1", h1, nt, nt); err != nil {
		return nil, err
	}
	if err := unit("h2", h2, nt, nt); err != nil {
		return nil, err
	}
	if new(big.Int).SetBytes(h1).Cmp(new(big.Int).SetBytes(h2)) == 0 || new(big.Int).SetBytes(h1).Cmp(bigOne) == 0 {
		return nil, bad("h1", "equals h2 or 1")
	}
	for i, parts := range [][][]byte{dln1, dln2} {
		if err := dlnFraming(fmt.Sprintf("DLN proof %d", i+1), parts); err != nil {
			return nil, err
		}
		pf, err := dlnproof.UnmarshalDLNProof(parts)
		if err != nil {
			return nil, bad(fmt.Sprintf("DLN proof %d", i+1), "does not parse")
		}
		for j := range pf.Alpha {
			if pf.Alpha[j].Cmp(nt) >= 0 || pf.T[j].Cmp(nt) >= 0 {
				return nil, bad(fmt.Sprintf("DLN proof %d part %d", i+1, j), "out of range")
			}
		}
	}
	return n, nil
}

// dlnFraming requires a DLN proof's framing: a length, the α_i, a length,
// the t_i. tss-lib's parser takes a length prefix as an int64 of its low
// bits and slices with it, which panics on a crafted prefix (keygen round 2
// and resharing round 4 parse it on a goroutine of their own).
func dlnFraming(field string, parts [][]byte) error {
	it := dlnproof.Iterations
	if len(parts) != 2+2*it {
		return bad(field, fmt.Sprintf("has %d parts, want %d", len(parts), 2+2*it))
	}
	want := big.NewInt(int64(it))
	for _, at := range []int{0, 1 + it} {
		if new(big.Int).SetBytes(parts[at]).Cmp(want) != 0 {
			return bad(field, fmt.Sprintf("length prefix at part %d is not %d", at, it))
		}
	}
	return nil
}

// modProof checks a Paillier-Blum modulus proof's parts against n (its
// upper bound when the sender's N is not at hand).
func modProof(parts [][]byte, n *big.Int) error {
	if err := needParts("modulus proof", parts, modproof.ProofModBytesParts); err != nil {
		return err
	}
	it := modproof.Iterations
	for i, p := range parts {
		if i == it+1 || i == it+2 { // A and B: bit strings tss-lib checks itself
			continue
		}
		if err := below(fmt.Sprintf("modulus proof part %d", i), p, n, true); err != nil {
			return err
		}
	}
	return nil
}

// facProof checks a factorisation proof: P, Q, A, B, T live in Z*_Ñ of the
// receiver, who verifies it with its own Ñ.
func facProof(parts [][]byte, self *pubParams) error {
	if err := needParts("factorisation proof", parts, facproof.ProofFacBytesParts); err != nil {
		return err
	}
	if err := known("factorisation proof", self); err != nil {
		return err
	}
	for i, name := range []string{"P", "Q", "A", "B", "T"} {
		if err := unit("factorisation proof "+name, parts[i], self.NTilde, self.NTilde); err != nil {
			return err
		}
	}
	return nil
}

// rangeProofAlice checks the round-1 MtA range proof: z, w in the
// receiver's Z*_Ñ, u in the sender's Z*_{N²}, s in the sender's Z*_N.
func rangeProofAlice(parts [][]byte, from, self *pubParams) error {
	if err := needParts("range proof", parts, mta.RangeProofAliceBytesParts); err != nil {
		return err
	}
	n2 := from.nSquare()
	for _, c := range []error{
		unit("range proof z", parts[0], self.NTilde, self.NTilde),
		unit("range proof u", parts[1], n2, from.N),
		unit("range proof w", parts[2], self.NTilde, self.NTilde),
		unit("range proof s", parts[3], from.N, from.N),
		between("range proof s1", parts[4], curveQ, curveQ3),
		between("range proof s2", parts[5], curveQ, nil),
	} {
		if c != nil {
			return c
		}
	}
	return nil
}

// proofBob checks Bob's MtA proof, verified by its receiver against its own
// Paillier key and Ñ; withCheck adds the point U of the ProofBobWC.
func proofBob(field string, parts [][]byte, self *pubParams, withCheck bool) error {
	want := mta.ProofBobBytesParts
	if withCheck {
		want = mta.ProofBobWCBytesParts
	}
	if err := needParts(field, parts, want); err != nil {
		return err
	}
	nt, n2 := self.NTilde, self.nSquare()
	for _, c := range []error{
		unit(field+" z", parts[0], nt, nt),
		unit(field+" z'", parts[1], nt, nt),
		unit(field+" t", parts[2], nt, nt),
		unit(field+" v", parts[3], n2, self.N),
		unit(field+" w", parts[4], nt, nt),
		unit(field+" s", parts[5], self.N, self.N),
		between(field+" s1", parts[6], curveQ, curveQ3),
		between(field+" s2", parts[7], curveQ, nil),
		between(field+" t1", parts[8], curveQ, curveQ7),
		between(field+" t2", parts[9], curveQ, nil),
	} {
		if c != nil {
			return c
		}
	}
	// tss-lib computes g^(s1 mod q) on a goroutine of its own and panics on
	// the point at infinity.
	if new(big.Int).Mod(new(big.Int).SetBytes(parts[6]), curveQ).Sign() == 0 {
		return bad(field+" s1", "is a multiple of q")
	}
	if withCheck {
		return point(field+" U", parts[10], parts[11])
	}
	return nil
}

// mustBelowMod accepts a part of at most modulusBits bits.
func mustBelowMod(field string, parts [][]byte) error {
	for i, p := range parts {
		if err := below(fmt.Sprintf("%s part %d", field, i), p, maxMod, false); err != nil {
			return err
		}
	}
	return nil
}
