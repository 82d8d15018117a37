package hsm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/hsm/hsmtest"
)

func TestMemoryConformance(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T) hsm.Sealer { return hsm.NewMemory() })
}

func TestMemorySwitches(t *testing.T) {
	ctx := context.Background()
	m := hsm.NewMemory()
	aad := hsm.AAD{Node: "a", KeyID: "k"}.Encode()
	sealed, err := m.Seal(ctx, []byte("x"), aad)
	if err != nil {
		t.Fatal(err)
	}

	m.SetFailSeal(true)
	if _, err := m.Seal(ctx, []byte("x"), aad); !errors.Is(err, hsm.ErrInjected) {
		t.Fatalf("fail seal: %v", err)
	}
	if _, err := m.Unseal(ctx, sealed, aad); err != nil {
		t.Fatalf("unseal while only seal fails: %v", err)
	}
	m.SetFailSeal(false)

	m.SetFailUnseal(true)
	if _, err := m.Unseal(ctx, sealed, aad); !errors.Is(err, hsm.ErrInjected) {
		t.Fatalf("fail unseal: %v", err)
	}
	m.SetFailUnseal(false)

	m.SetUnavailable(true)
	for name, err := range map[string]error{
		"Health": m.Health(ctx),
		"Seal":   second(m.Seal(ctx, []byte("x"), aad)),
		"Unseal": second(m.Unseal(ctx, sealed, aad)),
	} {
		if !errors.Is(err, hsm.ErrUnavailable) {
			t.Errorf("%s while unavailable: %v", name, err)
		}
	}
	m.SetUnavailable(false)
	if got, err := m.Unseal(ctx, sealed, aad); err != nil || string(got) != "x" {
		t.Fatalf("after recovery: %v", err)
	}
	m.Close()
	if err := m.Health(ctx); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
