package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/triad-custody/triad/daemon"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/node"
)

func init() { addCommand(newInitCmd) }

func newInitCmd() *cobra.Command {
	var configPath string
	c := &cobra.Command{
		Use:   "init --config FILE",
		Short: "Create a node's data dir, its sealed libp2p identity and missing API token files",
		Long: `Create a node's data directory and its libp2p identity, sealed by the configured HSM,
and print the node's peer ID for the other parties to pin. API credentials whose
token_file does not exist yet get a fresh random token (mode 0600).

Example:
  TRIAD_PASSPHRASE=demo-passphrase-not-secret triad init --config configs/custodian.yaml

The local sealer's passphrase must be at least 12 bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc, err := daemon.LoadConfig(configPath)
			if err != nil {
				return userError{Err: err}
			}
			cfg := &dc.Config
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := openHSM(ctx, cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			id, err := node.Init(ctx, cfg, s)
			if errors.Is(err, node.ErrInitialized) {
				return userError{Err: err}
			} else if err != nil {
				return err
			}
			for _, cr := range dc.API.Credentials {
				if cr.TokenFile == "" {
					continue
				}
				made, err := makeToken(cfg.Resolve(cr.TokenFile))
				if err != nil {
					return err
				}
				if made {
					fmt.Fprintf(cmd.OutOrStdout(), "created API token for %s (%s) in %s\n", cr.Name, cr.Role, cr.TokenFile)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "party %s\npeer id %s\n", cfg.Party, id)
			return nil
		},
	}
	c.Flags().StringVarP(&configPath, "config", "c", "", "node config file")
	c.MarkFlagRequired("config")
	return c
}

// makeToken writes a random token to path unless the file exists.
func makeToken(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	if err := hsm.WriteFileAtomic(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("writing token %s: %w", path, err)
	}
	return true, nil
}
