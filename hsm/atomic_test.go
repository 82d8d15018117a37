package hsm_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/triad-custody/triad/hsm"
)

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, data := range []string{"one", "two, longer", ""} {
		if err := hsm.WriteFileAtomic(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %d entries", len(entries))
	}
	if err := hsm.WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func sealedFile(t *testing.T, s hsm.Sealer, node string) hsm.SealedFile {
	return hsm.SealedFile{
		Path:   filepath.Join(t.TempDir(), "shard.sealed"),
		Sealer: s,
		AAD:    hsm.AAD{Node: node, Party: "1", KeyID: "btc-cold/shard", Version: 1},
	}
}

func TestSealedFile(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	f := sealedFile(t, s, "node-a")
	if err := f.Write(ctx, []byte("shard v1")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(f.Path)
	if bytes.Contains(raw, []byte("shard v1")) {
		t.Fatal("plaintext on disk")
	}
	if got, err := f.Read(ctx); err != nil || string(got) != "shard v1" {
		t.Fatalf("Read: %q, %v", got, err)
	}

	// Copied to node B's slot: refused.
	g := f
	g.AAD.Node = "node-b"
	if _, err := g.Read(ctx); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("node A's shard read as node B: %v", err)
	}
	// An older version put back: refused.
	g = f
	g.AAD.Version = 2
	if _, err := g.Read(ctx); !errors.Is(err, hsm.ErrAuthFailed) {
		t.Fatalf("version 1 read as version 2: %v", err)
	}

	// HSM down: Write fails and leaves the previous file untouched.
	s.SetUnavailable(true)
	if err := f.Write(ctx, []byte("shard v2")); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Write while unavailable: %v", err)
	}
	after, _ := os.ReadFile(f.Path)
	if !bytes.Equal(after, raw) {
		t.Fatal("failed Write changed the file")
	}
	s.SetUnavailable(false)
	if got, err := f.Read(ctx); err != nil || string(got) != "shard v1" {
		t.Fatalf("Read after failed write: %q, %v", got, err)
	}
}

// A half-written temporary file, as a crash mid-write leaves, does not
// disturb the previous shard, and RemoveStaleTemp clears it.
func TestSealedFileHalfWrittenTemp(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	f := sealedFile(t, s, "node-a")
	if err := f.Write(ctx, []byte("previous shard")); err != nil {
		t.Fatal(err)
	}
	next, err := s.Seal(ctx, []byte("next shard"), f.AAD.Encode())
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(f.Path), ".shard.sealed.tmp-123456")
	if err := os.WriteFile(tmp, next[:len(next)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Read(ctx); err != nil || string(got) != "previous shard" {
		t.Fatalf("previous shard after a crash: %q, %v", got, err)
	}
	if n, err := hsm.RemoveStaleTemp(f.Path); err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemp = %d, %v", n, err)
	}
	if err := f.Write(ctx, []byte("next shard")); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Read(ctx); err != nil || string(got) != "next shard" {
		t.Fatalf("after rewrite: %q, %v", got, err)
	}
}

const crashChildEnv = "TRIAD_HSM_CRASH_CHILD"

// TestSealedFileKilledMidWrite SIGKILLs a process that rewrites a sealed
// file in a loop; whenever the kill lands, the file on disk is one complete
// version.
func TestSealedFileKilledMidWrite(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSealedFileKilledMidWrite$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	last := -1
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last = n
			if n >= 30 {
				break
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if last < 30 {
		t.Fatalf("child stopped after %d writes", last)
	}
	s := crashSealer(t)
	got, err := hsm.SealedFile{Path: filepath.Join(dir, "shard.sealed"), Sealer: s, AAD: crashAAD}.Read(context.Background())
	if err != nil {
		t.Fatalf("file after kill does not unseal: %v", err)
	}
	var v int
	if _, err := fmt.Sscanf(string(got[:16]), "version %08d", &v); err != nil || v < last || !bytes.Equal(got, crashPayload(v)) {
		t.Fatalf("file after kill holds a torn or old version (v=%d, last acknowledged %d)", v, last)
	}
}

var crashAAD = hsm.AAD{Node: "node-a", Party: "1", KeyID: "crash"}

func crashPayload(v int) []byte {
	p := bytes.Repeat([]byte{byte(v)}, 256<<10)
	copy(p, fmt.Sprintf("version %08d", v))
	return p
}

func crashSealer(t testing.TB) hsm.Sealer {
	s, err := hsm.NewLocal([]byte("crash test passphrase"), cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func crashChild(dir string) {
	s, _ := hsm.NewLocal([]byte("crash test passphrase"), cheapArgon2)
	f := hsm.SealedFile{Path: filepath.Join(dir, "shard.sealed"), Sealer: s, AAD: crashAAD}
	for v := 0; ; v++ {
		if err := f.Write(context.Background(), crashPayload(v)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(v)
	}
}

// Write verifies the new blob before replacing the file: if it does not
// unseal, the previous shard stays.
func TestSealedFileWriteVerifies(t *testing.T) {
	ctx := context.Background()
	s := hsm.NewMemory()
	f := sealedFile(t, s, "node-a")
	if err := f.Write(ctx, []byte("previous shard")); err != nil {
		t.Fatal(err)
	}
	s.SetFailUnseal(true)
	if err := f.Write(ctx, []byte("next shard")); !errors.Is(err, hsm.ErrInjected) {
		t.Fatalf("Write with a failing unseal: %v", err)
	}
	s.SetFailUnseal(false)
	if got, err := f.Read(ctx); err != nil || string(got) != "previous shard" {
		t.Fatalf("previous shard: %q, %v", got, err)
	}
}
