package tss

import (
	"fmt"

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
	// check runs the field checks of fields.go: structure tss-lib v2.0.2
	// leaves out and every big integer against the parameters it assumes.
	// nil for the messages without fields.
	check func(c tsslib.MessageContent, f *fieldCtx) error
}

var catalog = map[Protocol]map[string]msgSpec{
	Keygen: {
		name(&keygen.KGRound1Message{}):  {round: 1, broadcast: true, check: checkKGRound1},
		name(&keygen.KGRound2Message1{}): {round: 2, broadcast: false, check: checkKGRound2Share},
		name(&keygen.KGRound2Message2{}): {round: 2, broadcast: true, check: checkKGRound2Decommit},
		name(&keygen.KGRound3Message{}):  {round: 3, broadcast: true, check: checkKGRound3},
	},
	Sign: {
		name(&signing.SignRound1Message1{}): {round: 1, broadcast: false, check: checkSignRound1MtA},
		name(&signing.SignRound1Message2{}): {round: 1, broadcast: true, check: checkCommitment},
		name(&signing.SignRound2Message{}):  {round: 2, broadcast: false, check: checkSignRound2},
		name(&signing.SignRound3Message{}):  {round: 3, broadcast: true, check: checkSignRound3},
		name(&signing.SignRound4Message{}):  {round: 4, broadcast: true, check: checkSignRound4},
		name(&signing.SignRound5Message{}):  {round: 5, broadcast: true, check: checkCommitment},
		name(&signing.SignRound6Message{}):  {round: 6, broadcast: true, check: checkSignRound6},
		name(&signing.SignRound7Message{}):  {round: 7, broadcast: true, check: checkCommitment},
		name(&signing.SignRound8Message{}):  {round: 8, broadcast: true, check: checkSignRound8},
		name(&signing.SignRound9Message{}):  {round: 9, broadcast: true, check: checkSignRound9},
	},
	Reshare: {
		name(&resharing.DGRound1Message{}):  {round: 1, broadcast: true, check: checkDGRound1},
		name(&resharing.DGRound2Message1{}): {round: 2, broadcast: true, check: checkDGRound2},
		name(&resharing.DGRound2Message2{}): {round: 2, broadcast: true},
		name(&resharing.DGRound3Message1{}): {round: 3, broadcast: false, check: checkDGRound3Share},
		name(&resharing.DGRound3Message2{}): {round: 3, broadcast: true, check: checkDGRound3Decommit},
		name(&resharing.DGRound4Message1{}): {round: 4, broadcast: false, check: checkDGRound4},
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
