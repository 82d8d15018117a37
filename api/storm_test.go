package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
	st "github.com/triad-custody/triad/custody/service/servicetest"
)

// ../shared/SECURITY.md scenario 22 and issue 9 item 4: the margin engine's storm. Many clients
// at once, each liquidation sent several times with the same idempotency
// key and body: every answer is 201 (the first) or 200 (a repeat) with the
// same request ID, whatever the order; one request per key is stored.
func TestStormIdempotency(t *testing.T) {
	c := newAPICluster(t, st.Options{})
	ex := custody.Exchange
	const keys, repeats, clients = 24, 4, 32
	bodies := make([][]byte, keys)
	at := c.Members[ex].Clock.Now()
	for i := range bodies {
		b, err := json.Marshal(st.Liquidation(fmt.Sprintf("storm-%d", i), 10_000, st.MarginKey(), at))
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = b
	}
	type answer struct {
		key, code int
		id        string
	}
	jobs := make(chan int)
	answers := make(chan answer, keys*repeats)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				k := j % keys
				req, _ := http.NewRequest("POST", c.urls[ex]+"/v1/requests", bytes.NewReader(bodies[k]))
				req.Header.Set("Authorization", "Bearer "+tokens["margin-engine"])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					answers <- answer{key: k, code: -1, id: err.Error()}
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var v service.View
				_ = json.Unmarshal(raw, &v)
				if v.ID == "" {
					v.ID = string(raw)
				}
				answers <- answer{key: k, code: resp.StatusCode, id: v.ID}
			}
		}()
	}
	for j := range keys * repeats {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	close(answers)
	ids := map[int]string{}
	created := map[int]int{}
	for a := range answers {
		switch a.code {
		case http.StatusCreated:
			created[a.key]++
		case http.StatusOK:
		default:
			t.Fatalf("key %d: %d %s", a.key, a.code, a.id)
		}
		if prev, ok := ids[a.key]; ok && prev != a.id {
			t.Fatalf("key %d answered with two request IDs: %s and %s", a.key, prev, a.id)
		}
		ids[a.key] = a.id
	}
	for k := range keys {
		if created[k] != 1 {
			t.Errorf("key %d created %d times", k, created[k])
		}
	}
	views, err := c.Svc(ex).List(service.ListFilter{Kind: custody.KindLiquidation})
	if err != nil || len(views) != keys {
		t.Fatalf("%d liquidations stored, want %d (%v)", len(views), keys, err)
	}
}
