package main

import (
	"github.com/triad-custody/triad/daemon"
	"github.com/triad-custody/triad/node"
)

// loadNodeConfig loads a node's whole config file (daemon.LoadConfig,
// every section checked) for a command that needs only the MPC daemon's
// sections: data dir, identity, HSM.
func loadNodeConfig(path string) (*node.Config, error) {
	c, err := daemon.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return &c.Config, nil
}
