package service_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/service"
)

func hex64(c string) string { return strings.Repeat(c, 64) }

// Batch documents decode strictly: canonical, bounded, ordered, each coin
// once; the ID is the document's.
func TestDecodeBatchStrict(t *testing.T) {
	in := func(c string, v uint32) custody.Input { return custody.Input{TxID: hex64(c), Vout: v, Value: 1000} }
	good := service.Batch{Batch: service.BatchVersion, Members: []service.BatchMember{
		{RequestID: hex64("a"), Inputs: []custody.Input{in("1", 0)}},
		{RequestID: hex64("b"), Inputs: []custody.Input{in("1", 1)}},
	}}
	b, err := service.DecodeBatch(good.Canonical())
	if err != nil || b.ID() != good.ID() {
		t.Fatalf("good batch: %v", err)
	}
	raw := string(good.Canonical())
	many := service.Batch{Batch: service.BatchVersion}
	for i := range custody.MaxBatchMembers + 1 {
		many.Members = append(many.Members, service.BatchMember{RequestID: strings.Repeat("0", 60) + strings.Repeat(string("0123456789abcdef"[i%16]), 1) + strings.Repeat(string("0123456789abcdef"[i/16]), 3)})
	}
	bad := map[string]string{
		"not canonical":  strings.Replace(raw, `{"batch"`, `{ "batch"`, 1),
		"unknown field":  strings.Replace(raw, `"members"`, `"x":1,"members"`, 1),
		"trailing":       raw + "{}",
		"version":        strings.Replace(raw, service.BatchVersion, "liquidation/v0", 1),
		"no members":     `{"batch":"liquidation/v1","members":[]}`,
		"out of order":   strings.Replace(strings.Replace(raw, hex64("a"), hex64("c"), 1), hex64("b"), hex64("a"), 1),
		"coin twice":     strings.Replace(raw, `"vout":1`, `"vout":0`, 1),
		"bad request id": strings.Replace(raw, hex64("a"), "zz", 1),
		"zero value":     strings.Replace(raw, `"value":1000}]},{`, `"value":0}]},{`, 1),
		"too many":       string(many.Canonical()),
		"oversized":      `{"batch":"` + strings.Repeat("x", 300<<10) + `"}`,
	}
	for name, doc := range bad {
		if _, err := service.DecodeBatch([]byte(doc)); !errors.Is(err, custody.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
