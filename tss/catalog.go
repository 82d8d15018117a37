package tss

import (
	"fmt"

	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EchoType is the message type of Triad's broadcast echo (echo.go).
const EchoType = "triad.echo"

// msgSpec is what the guard knows of one tss-lib message type.
type msgSpec struct {
	round     int
	broadcast bool
	// check runs structural checks tss-lib v2.0.2 leaves out.
	check func(c tsslib.MessageContent, threshold int) error
}

var catalog = map[Protocol]map[string]msgSpec{
	Keygen: {
		name(&keygen.KGRound1Message{}):  {round: 1, broadcast: true},
		name(&keygen.KGRound2Message1{}): {round: 2, broadcast: false, check: needFacProof},
		name(&keygen.KGRound2Message2{}): {round: 2, broadcast: true, check: keygenDecommit},
		name(&keygen.KGRound3Message{}):  {round: 3, broadcast: true},
	},
	Sign: {
		name(&signing.SignRound1Message1{}): {round: 1, broadcast: false},
		name(&signing.SignRound1Message2{}): {round: 1, broadcast: true},
		name(&signing.SignRound2Message{}):  {round: 2, broadcast: false},
		name(&signing.SignRound3Message{}):  {round: 3, broadcast: true},
		name(&signing.SignRound4Message{}):  {round: 4, broadcast: true},
		name(&signing.SignRound5Message{}):  {round: 5, broadcast: true},
		name(&signing.SignRound6Message{}):  {round: 6, broadcast: true},
		name(&signing.SignRound7Message{}):  {round: 7, broadcast: true},
		name(&signing.SignRound8Message{}):  {round: 8, broadcast: true},
		name(&signing.SignRound9Message{}):  {round: 9, broadcast: true},
	},
	Reshare: {
		name(&resharing.DGRound1Message{}):  {round: 1, broadcast: true},
		name(&resharing.DGRound2Message1{}): {round: 2, broadcast: true, check: needModProofDG},
		name(&resharing.DGRound2Message2{}): {round: 2, broadcast: true},
		name(&resharing.DGRound3Message1{}): {round: 3, broadcast: false},
		name(&resharing.DGRound3Message2{}): {round: 3, broadcast: true},
		name(&resharing.DGRound4Message1{}): {round: 4, broadcast: false, check: needFacProofDG},
		name(&resharing.DGRound4Message2{}): {round: 4, broadcast: true},
	},
}

func name(m proto.Message) string { return string(proto.MessageName(m)) }

// Bounds on decoded fields: the largest honest integer is a Paillier N² or
// Ñ-sized value (4096 bits); the longest repeated field is a modulus proof.
const (
	maxIntBytes = 1040
	maxParts    = 300 // DLN proofs have 2 + 2×128 parts, modulus proofs 163
)

// checkBounds walks every bytes field of a decoded tss-lib message and
// refuses huge integers and oversized repeated fields before any arithmetic.
func checkBounds(m protoreflect.Message) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.BytesKind:
			if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
				err = checkBounds(v.Message())
			}
		case fd.IsList():
			l := v.List()
			if l.Len() > maxParts {
				err = fmt.Errorf("%w: field %s has %d parts", ErrMalformed, fd.Name(), l.Len())
				return false
			}
			for i := 0; i < l.Len(); i++ {
				if n := len(l.Get(i).Bytes()); n > maxIntBytes {
					err = fmt.Errorf("%w: field %s part %d is %d bytes", ErrMalformed, fd.Name(), i, n)
					return false
				}
			}
		default:
			if n := len(v.Bytes()); n > maxIntBytes {
				err = fmt.Errorf("%w: field %s is %d bytes", ErrMalformed, fd.Name(), n)
				return false
			}
		}
		return err == nil
	})
	return err
}

// needFacProof: tss-lib v2.0.2 accepts a keygen share without its
// factorisation proof (BitForge defence); Triad does not.
func needFacProof(c tsslib.MessageContent, _ int) error {
	m := c.(*keygen.KGRound2Message1)
	return needParts("factorisation proof", m.GetFacProof(), facproof.ProofFacBytesParts)
}

func needFacProofDG(c tsslib.MessageContent, _ int) error {
	m := c.(*resharing.DGRound4Message1)
	return needParts("factorisation proof", m.GetFacProof(), facproof.ProofFacBytesParts)
}

func needModProofDG(c tsslib.MessageContent, _ int) error {
	m := c.(*resharing.DGRound2Message1)
	return needParts("modulus proof", m.GetModProof(), modproof.ProofModBytesParts)
}

// keygenDecommit requires the modulus proof and checks the VSS length that
// tss-lib master checks and v2.0.2 does not: the decommitted polynomial must
// have exactly threshold+1 points (a blinding value plus 2 coordinates each).
func keygenDecommit(c tsslib.MessageContent, threshold int) error {
	m := c.(*keygen.KGRound2Message2)
	if err := needParts("modulus proof", m.GetModProof(), modproof.ProofModBytesParts); err != nil {
		return err
	}
	if got, want := len(m.GetDeCommitment()), 1+2*(threshold+1); got != want {
		return fmt.Errorf("%w: VSS decommitment has %d parts, want %d for threshold %d", ErrMalformed, got, want, threshold)
	}
	return nil
}

func needParts(what string, parts [][]byte, n int) error {
	if len(parts) != n {
		return fmt.Errorf("%w: %s has %d parts, want %d", ErrMalformed, what, len(parts), n)
	}
	for i, p := range parts {
		if len(p) == 0 {
			return fmt.Errorf("%w: %s part %d is empty", ErrMalformed, what, i)
		}
	}
	return nil
}
