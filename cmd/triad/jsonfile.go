package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"

	"github.com/triad-custody/triad/hsm"
)

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return userErr("reading %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return userErr("%s: %v", path, err)
	}
	return nil
}

func writeJSONFile(w io.Writer, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err := w.Write(b)
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return userErr("%s exists; refusing to overwrite", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return hsm.WriteFileAtomic(path, b, 0o644)
}
