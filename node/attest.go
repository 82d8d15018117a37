package node

import "fmt"

// AttestDrill signs a drill report digest with this node's libp2p
// identity key, so that anyone holding its pinned peer ID can check it.
// The key stays in the host; only the signature leaves.
func (r *Runtime) AttestDrill(signingBytes []byte) (peerID string, sig []byte, err error) {
	if r.Host == nil {
		return "", nil, fmt.Errorf("node: no identity key to sign with")
	}
	sig, err = r.Host.SignWithIdentity(signingBytes)
	if err != nil {
		return "", nil, fmt.Errorf("node: signing drill report: %w", err)
	}
	return r.Host.ID().String(), sig, nil
}
