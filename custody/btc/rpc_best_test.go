package btc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/triad-custody/triad/custody/btc"
)

func TestBestBlock(t *testing.T) {
	ctx := context.Background()
	const hash = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	h, b, err := fakeNode(t, `{"result":{"hash":"`+hash+`","height":101},"error":null,"id":1}`, nil).BestBlock(ctx)
	if err != nil || h != 101 || b != hash {
		t.Fatalf("best block %d %s %v", h, b, err)
	}
	for _, body := range []string{
		`{"result":{"hash":"zz","height":101},"error":null,"id":1}`,
		`{"result":{"hash":"` + hash + `","height":-1},"error":null,"id":1}`,
		`{"result":7,"error":null,"id":1}`,
	} {
		if _, _, err := fakeNode(t, body, nil).BestBlock(ctx); !errors.Is(err, btc.ErrRPC) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
