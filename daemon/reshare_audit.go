package daemon

import (
	"encoding/json"
	"log/slog"

	"github.com/triad-custody/triad/custody/service"
	"github.com/triad-custody/triad/node/reshare"
)

// reshareAuditor is a node's reshare observer: it logs every step and
// records it on the node's audit chain (service.KindReshare), so each
// node's chain shows the reshare as that node saw it.
func reshareAuditor(svc *service.Service, log *slog.Logger) func(reshare.Event) {
	return func(e reshare.Event) {
		log.Info("reshare", "reshare", e.ReshareID, "peer", e.Party, "step", e.Step, "detail", e.Detail)
		b, err := json.Marshal(e)
		if err == nil {
			err = svc.Record(service.KindReshare, "reshare/"+e.ReshareID, b)
		}
		if err != nil {
			log.Error("reshare step not recorded on the audit chain", "reshare", e.ReshareID, "step", e.Step, "err", err)
		}
	}
}
