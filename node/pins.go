package node

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node/p2p"
)

// Pin overrides: a reshare that replaced a party's node records the new
// peer ID in the data dir (pins.json), because the config file may still
// name the old one. ApplyPins lets them win over the config at start.

const pinsFile = "pins.json"

// PinOverride is one persisted re-pin.
type PinOverride struct {
	Party  string `json:"party"`
	PeerID string `json:"peer_id"`
}

// SavePin records party → peerID in c's data dir.
func SavePin(c *Config, party, peerID string) error {
	if _, err := peer.Decode(peerID); err != nil {
		return fmt.Errorf("node: pin for %s: %w", party, err)
	}
	pins, err := LoadPins(c)
	if err != nil {
		return err
	}
	pins[party] = peerID
	var list []PinOverride
	for p, id := range pins {
		list = append(list, PinOverride{Party: p, PeerID: id})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Party < list[j].Party })
	b, _ := json.MarshalIndent(list, "", "  ")
	return hsm.WriteFileAtomic(c.dataPath(pinsFile), append(b, '\n'), 0o644)
}

// LoadPins reads the persisted re-pins (none when the file is absent).
func LoadPins(c *Config) (map[string]string, error) {
	out := map[string]string{}
	b, err := os.ReadFile(c.dataPath(pinsFile))
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: reading pins: %w", err)
	}
	var list []PinOverride
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("node: %s: %w", c.dataPath(pinsFile), err)
	}
	for _, p := range list {
		out[p.Party] = p.PeerID
	}
	return out, nil
}

// ApplyPins replaces the peer IDs of re-pinned parties in peers.
func ApplyPins(c *Config, peers []p2p.Peer) ([]p2p.Peer, error) {
	pins, err := LoadPins(c)
	if err != nil {
		return nil, err
	}
	out := append([]p2p.Peer(nil), peers...)
	for i, p := range out {
		if s, ok := pins[p.Party]; ok {
			id, err := peer.Decode(s)
			if err != nil {
				return nil, fmt.Errorf("node: pin for %s: %w", p.Party, err)
			}
			out[i].ID = id
		}
	}
	return out, nil
}
