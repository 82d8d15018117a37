package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/custody/btc"
	"github.com/triad-custody/triad/node"
)

// The liquidation storm (issue 9): a market drop puts many accounts under
// their maintenance line at once and the margin engine sends a liquidation
// for each, from many concurrent clients, and repeats some of them with
// the same idempotency key. Every liquidation must be paid on chain
// exactly once (../shared/SECURITY.md scenarios 22 and 27: one request and one
// payment per idempotency key; done only when its own outputs are on
// chain), and the drain is measured against raw tss-lib signing.
//
//	TRIAD_TEST_STORM=1 go test ./cmd/triad -run 'TestLiquidationStorm$' -v -timeout 60m   # N=300, 64 clients, 30 repeats
//	go test ./cmd/triad -run TestLiquidationStormSmall -v                            # N=12, 8 clients, 4 repeats (in the suite)
//
// TRIAD_TEST_STORM_N, TRIAD_TEST_STORM_CLIENTS and TRIAD_TEST_STORM_REPEATS resize the
// full run; TRIAD_TEST_STORM_REPORT names a file for the markdown report and
// TRIAD_TEST_STORM_RECORDS one for every submission (JSON lines);
// TRIAD_TEST_STORM_PROFILE names a directory where each node writes a CPU
// profile (<party>.cpu.pprof) and its log (<party>.log). The log shows, after the table, where the
// time went (storm_timeline_test.go).
// The policy keeps the pilot's settlements_per_day: 2 (liquidations are
// batched under their own daily batch limit, which the harness sets to N
// when configs/sample.yaml has the key); TRIAD_TEST_STORM_SETTLEMENTS_PER_DAY
// overrides it, to try a Triad without batching past its daily cap.

// TestLiquidationStormSmall is the CI-sized storm. It fails unless every
// liquidation is paid exactly once on chain, every repeat is answered 200
// with the original's request ID, and nothing is lost.
func TestLiquidationStormSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, runs a DKG and starts btcd")
	}
	runStormTest(t, stormOpts{N: 12, Clients: 8, Repeats: 4, Deadline: 5 * time.Minute, Quiet: time.Minute})
}

// TestLiquidationStorm is the benchmark of issue 9 (TRIAD_TEST_STORM=1).
func TestLiquidationStorm(t *testing.T) {
	if os.Getenv("TRIAD_TEST_STORM") != "1" {
		t.Skip("the storm benchmark: set TRIAD_TEST_STORM=1 (and -timeout 60m)")
	}
	o := stormOpts{N: envInt(t, "TRIAD_TEST_STORM_N", 300), Clients: envInt(t, "TRIAD_TEST_STORM_CLIENTS", 64),
		Repeats: envInt(t, "TRIAD_TEST_STORM_REPEATS", 30), Deadline: 30 * time.Minute, Quiet: 2 * time.Minute}
	runStormTest(t, o)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func runStormTest(t *testing.T, o stormOpts) {
	if o.Repeats > o.N {
		t.Fatalf("%d repeats of %d liquidations", o.Repeats, o.N)
	}
	setup := time.Now()
	c := startStormCluster(t, o.N)
	t.Logf("set-up: %d accounts funded in %v (settlements_per_day %d; liquidation batch key in configs/sample.yaml: %q)",
		o.N, time.Since(setup).Round(time.Millisecond), c.perDay, c.batchKey)
	r := c.storm(t, o)
	md := r.markdown()
	t.Logf("storm report\n%s\n%s", md, r.timeline())
	if path := os.Getenv("TRIAD_TEST_STORM_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	if path := os.Getenv("TRIAD_TEST_STORM_RECORDS"); path != "" {
		if err := os.WriteFile(path, r.records(), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, p := range r.problems {
		t.Log(p)
	}
	if fails := r.failures(); len(fails) > 0 {
		t.Fatalf("the storm did not settle exactly:\n  %s", strings.Join(fails, "\n  "))
	}
}

// stormOpts sizes a storm.
type stormOpts struct {
	N, Clients, Repeats int
	Deadline            time.Duration // first submission → end of the drain, at most
	Quiet               time.Duration // nothing changed this long with an empty mempool: the drain is over
}

// submission is one POST /v1/requests as the margin engine saw it.
type submission struct {
	Start, End time.Time
	Code       int    // HTTP status; 0: no answer
	ErrCode    string // the API's error code
	Err        string
	ID         string
}

// stormView is the part of a request's view the harness reads; it is
// decoded leniently so the harness outlives changes to the view.
type stormView struct {
	ID      string `json:"id"`
	Request struct {
		IdempotencyKey string `json:"idempotency_key"`
		Account        string `json:"account"`
		Amount         uint64 `json:"amount"`
	} `json:"request"`
	Status     string           `json:"status"`
	Reason     string           `json:"reason"`
	Result     *stormResult     `json:"result"`
	Settlement *stormSettlement `json:"settlement"`
}

type stormResult struct {
	Batch *struct {
		ID string `json:"id"`
	} `json:"batch"`
	Signatures []struct {
		R string `json:"r"`
		S string `json:"s"`
	} `json:"signatures"`
}

// stormSettlement is a view's settlement: the txid and, once the views
// give it, the output that pays the request (vout or output_index).
type stormSettlement struct {
	TxID          string  `json:"txid"`
	Vout          *uint32 `json:"vout"`
	OutputIndex   *uint32 `json:"output_index"`
	Confirmations int64   `json:"confirmations"`
	Error         string  `json:"error"`
}

func (v stormView) terminal() bool {
	switch v.Status {
	case "done", "rejected", "vetoed", "lapsed", "failed":
		return true
	}
	return false
}

func (v stormView) fingerprint() string {
	s := v.Status
	if v.Settlement != nil {
		s += fmt.Sprintf("/%s/%d", v.Settlement.TxID, v.Settlement.Confirmations)
	}
	return s
}

// liquidation is one account's liquidation and everything observed of it.
type liquidation struct {
	acct     stormAccount
	idem     string
	amount   uint64
	body     []byte
	orig     submission
	repeats  []submission
	view     stormView
	viewErr  string
	signedAt time.Time // first seen signed (event stream, else a poll)
}

func (l *liquidation) label() string {
	id := l.orig.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return fmt.Sprintf("%s (%s, request %s, %d sat)", l.acct.ID, l.idem, id, l.amount)
}

// newLiquidations makes one liquidation per account, each with its own
// margin-call evidence signed by the engine key and its own amount (so an
// output on chain names its liquidation).
func (c *stormCluster) newLiquidations(t *testing.T) []*liquidation {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	run := hex.EncodeToString(b)
	var out []*liquidation
	for i, a := range c.accounts {
		l := &liquidation{acct: a, idem: fmt.Sprintf("storm-%s-%d", run, i), amount: uint64(20_000_000 + 1000*i)}
		ev := custody.SignMarginCall(custody.MarginCall{Account: a.ID, Asset: "BTC", Shortfall: 2 * l.amount,
			Collateral: []custody.Holding{{Asset: "BTC", Value: 6_000_000}}, Exposure: 5_000_000, Price: 6_000_000,
			Time: time.Now(), Nonce: l.idem}, c.engine)
		req := custody.Request{Kind: custody.KindLiquidation, IdempotencyKey: l.idem, Account: a.ID, KeyID: stormKeyID,
			ChildPath: a.Path, Asset: "BTC", Destination: c.settle, Amount: l.amount, FeeRate: stormFeeRate, Evidence: &ev}
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		l.body = body
		out = append(out, l)
	}
	return out
}

func submit(ctx context.Context, cl *client, body []byte) submission {
	s := submission{Start: time.Now()}
	resp, err := cl.Send(ctx, "POST", "/v1/requests", json.RawMessage(body))
	s.End = time.Now()
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			s.Code, s.ErrCode, s.Err = ae.Status, ae.Code, ae.Message
		} else {
			s.Err = err.Error()
		}
		return s
	}
	defer resp.Body.Close()
	s.Code = resp.StatusCode
	var v struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&v); err != nil {
		s.Err = "decoding the answer: " + err.Error()
	}
	s.ID = v.ID
	return s
}

// storm submits every liquidation from o.Clients concurrent clients, and
// repeats o.Repeats of them (each after its original was answered, same
// body), drains the cluster while mining, and checks the result on chain.
func (c *stormCluster) storm(t *testing.T, o stormOpts) *stormReport {
	t.Helper()
	liqs := c.newLiquidations(t)
	ctx, cancel := context.WithTimeout(context.Background(), o.Deadline+10*time.Minute)
	defer cancel()
	engine := c.apiClient(t, "exchange", "margin-engine", o.Clients)
	reader := c.apiClient(t, "exchange", "admin", 4)
	signedSeen, err := watchSigned(ctx, c.apiClient(t, "exchange", "admin", 1))
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	minerCtx, stopMiner := context.WithCancel(ctx)
	defer stopMiner()
	mine, minerDone := c.runMiner(minerCtx, 2*o.N+50)

	repeatOf := map[int]bool{}
	for j := 0; j < o.Repeats; j++ {
		repeatOf[j*o.N/o.Repeats] = true
	}
	type job struct {
		i      int
		repeat bool
	}
	jobs := make(chan job, o.N+o.Repeats)
	for i := range liqs {
		jobs <- job{i: i}
	}
	var mu sync.Mutex
	left := int64(o.N + o.Repeats)
	var wg sync.WaitGroup
	loadStart := loadAvg()
	cpuStart := c.nodesCPU()
	start := time.Now()
	for w := 0; w < o.Clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s := submit(ctx, engine, liqs[j.i].body)
				mu.Lock()
				if j.repeat {
					liqs[j.i].repeats = append(liqs[j.i].repeats, s)
				} else {
					liqs[j.i].orig = s
				}
				mu.Unlock()
				if !j.repeat && repeatOf[j.i] {
					jobs <- job{i: j.i, repeat: true}
				}
				if atomic.AddInt64(&left, -1) == 0 {
					close(jobs)
				}
			}
		}()
	}
	wg.Wait()
	submitted := time.Now()

	polled := c.drain(ctx, t, reader, liqs, start.Add(o.Deadline), o.Quiet)
	stopMiner()
	<-minerDone
	r := &stormReport{opts: o, liqs: liqs, start: start, submitted: submitted, rss: map[string]string{},
		policy: fmt.Sprintf("settlements_per_day %d", c.perDay), cpu: map[string]time.Duration{},
		mempoolSeen: mine.seenCopy(), confirmed: map[string]time.Time{}}
	for p, d := range c.nodesCPU() {
		r.cpu[p] = d - cpuStart[p]
	}
	r.counters = c.nodeCounters(ctx, t)
	if c.batchKey != "" {
		r.policy += fmt.Sprintf(", %s %d", c.batchKey, max(o.N, 10))
	} else {
		r.policy += ", no liquidation batch key in configs/sample.yaml"
	}
	for _, p := range node.DefaultParties {
		r.rss[p] = peakRSS(c.started[p].cmd.Process.Pid)
	}
	seen := signedSeen()
	for _, l := range liqs {
		if at, ok := seen[l.orig.ID]; ok {
			l.signedAt = at
		} else if at, ok := polled[l.orig.ID]; ok {
			l.signedAt = at
		}
	}
	if mine.err != nil {
		r.problems = append(r.problems, "miner: "+mine.err.Error())
	}
	c.verify(ctx, t, r, mine)
	// The floor is measured with the nodes stopped, so they do not share
	// the machine with it.
	for _, p := range node.DefaultParties {
		stopProc(c.started[p], 15*time.Second)
		log := c.started[p].stderr.String()
		r.batches = append(r.batches, parseBatchLines(p, log)...)
		if dir := os.Getenv("TRIAD_TEST_STORM_PROFILE"); dir != "" {
			os.WriteFile(filepath.Join(dir, p+".log"), []byte(log), 0o644)
		}
	}
	r.rawSigs = r.signatures
	r.load = fmt.Sprintf("%s at the storm's start, %s before the raw run", loadStart, loadAvg())
	if r.rawSigs > 0 {
		r.rawTime, r.rawCPU = rawSignTimesCPU(t, r.rawSigs)
		r.load += ", " + loadAvg() + " after"
	}
	return r
}

// stopProc stops a node with SIGTERM, or SIGKILL after grace.
func stopProc(p *proc, grace time.Duration) {
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		p.cmd.Process.Kill()
		<-exited
	}
}

// loadAvg is the machine's 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// drainPoll is how often drain lists the liquidations.
const drainPoll = 5 * time.Second

// drain polls the exchange's node until every accepted liquidation is
// final and every done one confirmed, nothing changed for quiet with an
// empty mempool, or the deadline. It returns when each request was first
// seen signed or done by a poll.
func (c *stormCluster) drain(ctx context.Context, t *testing.T, cl *client, liqs []*liquidation, deadline time.Time, quiet time.Duration) map[string]time.Time {
	t.Helper()
	polled := map[string]time.Time{}
	last, changed := "", time.Now()
	// Every few seconds: each poll lists every liquidation with its result
	// (some 18 kB each in batches of 50: 5 MB at N=300), which the
	// exchange encodes and the harness decodes on the cores the nodes
	// sign on. The drain's end is when the harness mined the last block,
	// and the signed times come from the event stream, so the period
	// only delays noticing the end.
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		views := map[string]stormView{}
		if len(liqs) <= 500 {
			var list struct {
				Requests []stormView `json:"requests"`
			}
			if err := cl.Do(ctx, "GET", "/v1/requests?kind=liquidation&limit=500", nil, &list); err == nil {
				for _, v := range list.Requests {
					views[v.ID] = v
				}
			}
		}
		var fp strings.Builder
		open, unconfirmed := 0, 0
		for _, l := range liqs {
			if l.orig.ID == "" {
				continue
			}
			v, ok := views[l.orig.ID]
			if !ok {
				if err := cl.Do(ctx, "GET", "/v1/requests/"+l.orig.ID, nil, &v); err != nil {
					l.viewErr = err.Error()
					open++
					continue
				}
			}
			l.view, l.viewErr = v, ""
			if _, ok := polled[v.ID]; !ok && (v.Status == "signed" || v.Status == "done") {
				polled[v.ID] = time.Now()
			}
			if !v.terminal() {
				open++
			} else if v.Status == "done" && (v.Settlement == nil || v.Settlement.Confirmations < 1) {
				unconfirmed++
			}
			fp.WriteString(v.fingerprint())
		}
		if open == 0 && unconfirmed == 0 {
			return polled
		}
		pool, _ := c.rpc.mempool(ctx)
		if s := fp.String(); s != last || len(pool) > 0 {
			last, changed = s, time.Now()
		}
		if time.Since(changed) > quiet {
			t.Logf("drain: nothing changed for %v: %d liquidation(s) open, %d done but unconfirmed", quiet, open, unconfirmed)
			return polled
		}
		if time.Now().After(deadline) {
			t.Logf("drain: deadline: %d liquidation(s) open, %d done but unconfirmed", open, unconfirmed)
			return polled
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return polled
		}
	}
}

// verify checks, on btcd, that each liquidation was paid exactly once
// (checkPayments): the outputs to the settlement address come from btcd's
// address index, every transaction from getrawtransaction.
func (c *stormCluster) verify(ctx context.Context, t *testing.T, r *stormReport, mine *miner) {
	t.Helper()
	outs, err := c.chain.Client.ListUnspent(ctx, c.settle, 0)
	if err != nil {
		t.Fatalf("outputs to the settlement address: %v", err)
	}
	cache := map[string]chainTx{}
	getTx := func(id string) (chainTx, error) {
		if tx, ok := cache[id]; ok {
			return tx, nil
		}
		tx, err := c.rpc.tx(ctx, id)
		if err == nil {
			cache[id] = tx
		}
		return tx, err
	}
	if err := r.checkPayments(c.settleSc, outs, getTx, mine.at); err != nil {
		t.Fatal(err)
	}
}

// checkPayments is the on-chain verdict: a liquidation is paid exactly
// once when its view names a confirmed transaction whose output (at the
// view's index, if it gives one) pays its amount to the settlement script,
// no other liquidation claims that output, and it is the only confirmed
// output to the settlement address of that amount (amounts are unique per
// liquidation). The outputs must sum to the liquidated amounts. outs are
// every output to the settlement address (it never spends); minedAt says
// when the harness mined a block.
func (r *stormReport) checkPayments(settleSc []byte, outs []btc.Unspent, getTx func(string) (chainTx, error), minedAt func(string) (time.Time, bool)) error {
	byAmount := map[int64]*liquidation{}
	r.wantSum = 0
	for _, l := range r.liqs {
		byAmount[int64(l.amount)] = l
		r.wantSum += int64(l.amount)
	}
	paidBy := map[*liquidation][]wire.OutPoint{}
	txs := map[string]bool{}
	for _, u := range outs {
		if u.Confirmations < 1 {
			r.unconfirmedOuts++
			continue
		}
		r.chainSum += u.Value
		txs[u.OutPoint.Hash.String()] = true
		if l, ok := byAmount[u.Value]; ok {
			paidBy[l] = append(paidBy[l], u.OutPoint)
		} else {
			r.problems = append(r.problems, fmt.Sprintf("output %s pays %d sat to the settlement address: no liquidation has that amount", u.OutPoint, u.Value))
		}
	}
	r.transactions = len(txs)
	for id := range txs {
		tx, err := getTx(id)
		if err != nil {
			return fmt.Errorf("settlement transaction %s: %w", id, err)
		}
		at, ok := minedAt(tx.BlockHash)
		if ok && r.confirmed != nil {
			r.confirmed[id] = at
		}
		if !ok {
			r.problems = append(r.problems, fmt.Sprintf("settlement transaction %s is in block %s, which the harness did not mine", id, tx.BlockHash))
		} else if at.After(r.lastConf) {
			r.lastConf = at
		}
	}
	claims := map[wire.OutPoint][]*liquidation{}
	claimOf := map[*liquidation]wire.OutPoint{}
	badClaim := map[*liquidation]bool{}
	sigs := map[string]bool{}
	for _, l := range r.liqs {
		v := l.view
		if v.Result != nil {
			for _, s := range v.Result.Signatures {
				sigs[s.R+s.S] = true
			}
		}
		if v.Settlement == nil || v.Settlement.TxID == "" {
			continue
		}
		op, err := claimOutput(getTx, settleSc, l, v)
		if op != (wire.OutPoint{}) {
			claims[op] = append(claims[op], l)
			claimOf[l] = op
		}
		if err != nil {
			badClaim[l] = true
			r.problems = append(r.problems, fmt.Sprintf("%s: %s, settlement %s: %v", l.label(), v.Status, v.Settlement.TxID, err))
		}
	}
	r.signatures = len(sigs)
	var shared []wire.OutPoint
	for op, ls := range claims {
		if len(ls) > 1 {
			shared = append(shared, op)
		}
	}
	sort.Slice(shared, func(i, j int) bool { return shared[i].String() < shared[j].String() })
	for _, op := range shared {
		var names []string
		for _, l := range claims[op] {
			names = append(names, l.label())
		}
		r.doubleClaimed += len(claims[op])
		r.problems = append(r.problems, fmt.Sprintf("output %s is claimed by %d liquidations: %s", op, len(names), strings.Join(names, "; ")))
	}
	r.paidOnce, r.paidTwice, r.unpaid = 0, 0, nil
	for _, l := range r.liqs {
		op, claimed := claimOf[l]
		pays := paidBy[l]
		switch {
		case len(pays) == 1 && claimed && !badClaim[l] && pays[0] == op && len(claims[op]) == 1:
			r.paidOnce++
			continue
		case badClaim[l] || claimed && len(claims[op]) > 1:
			// Already named above.
		case len(pays) > 1:
			r.paidTwice++
			r.problems = append(r.problems, fmt.Sprintf("%s: paid %d times on chain: %v", l.label(), len(pays), pays))
		case len(pays) == 1 && !claimed:
			r.problems = append(r.problems, fmt.Sprintf("%s: paid on chain by %s, but its view (%s) names no such output", l.label(), pays[0], l.state()))
		case len(pays) == 1 && pays[0] != op:
			r.problems = append(r.problems, fmt.Sprintf("%s: paid on chain by %s, its view claims %s", l.label(), pays[0], op))
		case len(pays) == 0:
			r.problems = append(r.problems, fmt.Sprintf("%s: unpaid on chain; its view: %s", l.label(), l.state()))
		}
		r.unpaid = append(r.unpaid, l)
	}
	return nil
}

// claimOutput is the output l's view says pays it, checked on chain:
// confirmed, to the settlement script, l's amount. A view that names an
// output that does not pay l still claims it (err says why).
func claimOutput(getTx func(string) (chainTx, error), settleSc []byte, l *liquidation, v stormView) (wire.OutPoint, error) {
	tx, err := getTx(v.Settlement.TxID)
	if err != nil {
		return wire.OutPoint{}, fmt.Errorf("not on the chain: %w", err)
	}
	if tx.Confirmations < 1 {
		return wire.OutPoint{}, errors.New("not confirmed")
	}
	pays := func(i int) bool {
		o := tx.Tx.TxOut[i]
		return string(o.PkScript) == string(settleSc) && o.Value == int64(l.amount)
	}
	idx := v.Settlement.Vout
	if idx == nil {
		idx = v.Settlement.OutputIndex
	}
	if idx != nil {
		if int(*idx) >= len(tx.Tx.TxOut) {
			return wire.OutPoint{}, fmt.Errorf("the transaction has no output %d", *idx)
		}
		op := wire.OutPoint{Hash: tx.Tx.TxHash(), Index: *idx}
		if !pays(int(*idx)) {
			return op, fmt.Errorf("output %d does not pay %d sat to the settlement address", *idx, l.amount)
		}
		return op, nil
	}
	for i := range tx.Tx.TxOut {
		if pays(i) {
			return wire.OutPoint{Hash: tx.Tx.TxHash(), Index: uint32(i)}, nil
		}
	}
	return wire.OutPoint{}, fmt.Errorf("no output pays %d sat to the settlement address", l.amount)
}

// state is what the node says of l, for a failure message.
func (l *liquidation) state() string {
	switch {
	case l.orig.ID == "":
		return fmt.Sprintf("never accepted: HTTP %d %s %s", l.orig.Code, l.orig.ErrCode, l.orig.Err)
	case l.viewErr != "":
		return "unknown to the node: " + l.viewErr
	}
	s := l.view.Status
	if l.view.Reason != "" {
		s += " (" + l.view.Reason + ")"
	}
	if st := l.view.Settlement; st != nil {
		s += fmt.Sprintf(", txid %s, %d confirmation(s)", st.TxID, st.Confirmations)
		if st.Error != "" {
			s += ", error: " + st.Error
		}
	}
	return s
}

// stormReport is what a storm measured.
type stormReport struct {
	opts                stormOpts
	liqs                []*liquidation
	start, submitted    time.Time
	lastConf            time.Time
	rss                 map[string]string
	transactions        int
	paidOnce, paidTwice int
	doubleClaimed       int
	unconfirmedOuts     int
	wantSum, chainSum   int64
	signatures, rawSigs int
	rawTime, rawCPU     time.Duration
	policy              string
	load                string // load average around the raw measurement
	unpaid              []*liquidation
	problems            []string
	// Where the time went (storm_timeline_test.go).
	batches     []batchLine
	cpu         map[string]time.Duration // each node's CPU time over the drain
	counters    []string
	mempoolSeen map[string]time.Time // txid → first seen in btcd's mempool
	confirmed   map[string]time.Time // txid → its block mined
}

func (r *stormReport) counts() (accepted, dupOK, dupBad, lost int, final map[string]int) {
	final = map[string]int{}
	for _, l := range r.liqs {
		if l.orig.Code == 201 && l.orig.ID != "" {
			accepted++
		}
		for _, s := range l.repeats {
			if s.Code == 200 && s.ID != "" && s.ID == l.orig.ID {
				dupOK++
			} else {
				dupBad++
			}
		}
		switch {
		case l.orig.ID == "":
			final["not accepted"]++
		case l.viewErr != "":
			final["unknown"]++
		default:
			final[l.view.Status]++
		}
	}
	// Lost: accepted, not paid on chain, and not refused in a way the
	// margin engine is told (rejected, vetoed, lapsed, failed).
	for _, l := range r.unpaid {
		switch l.view.Status {
		case "rejected", "vetoed", "lapsed", "failed":
			if l.viewErr == "" {
				continue
			}
		}
		if l.orig.ID != "" {
			lost++
		}
	}
	return accepted, dupOK, dupBad, lost, final
}

// failures are the storm's correctness failures (timings are reported,
// not judged).
func (r *stormReport) failures() []string {
	accepted, dupOK, _, lost, final := r.counts()
	var out []string
	if accepted != r.opts.N {
		out = append(out, fmt.Sprintf("accepted %d of %d liquidations (201)", accepted, r.opts.N))
	}
	if dupOK != r.opts.Repeats {
		var bad []string
		for _, l := range r.liqs {
			for _, s := range l.repeats {
				if s.Code != 200 || s.ID != l.orig.ID {
					bad = append(bad, fmt.Sprintf("%s: HTTP %d %s %s id %.12s", l.label(), s.Code, s.ErrCode, s.Err, s.ID))
				}
			}
		}
		out = append(out, fmt.Sprintf("%d of %d repeats answered 200 with the original's ID; the others: %s", dupOK, r.opts.Repeats, strings.Join(bad, "; ")))
	}
	if lost > 0 {
		out = append(out, fmt.Sprintf("%d liquidation(s) lost (accepted, not paid, not refused)", lost))
	}
	if r.paidOnce != r.opts.N {
		var names []string
		for _, l := range r.unpaid {
			names = append(names, l.acct.ID)
		}
		if len(names) > 20 {
			names = append(names[:20], fmt.Sprintf("and %d more (each is logged above)", len(names)-20))
		}
		out = append(out, fmt.Sprintf("%d of %d liquidations paid on chain exactly once (final statuses %v); not: %s",
			r.paidOnce, r.opts.N, final, strings.Join(names, ", ")))
	}
	if r.doubleClaimed > 0 || r.paidTwice > 0 {
		out = append(out, fmt.Sprintf("%d liquidation(s) claim an output another claims, %d paid more than once", r.doubleClaimed, r.paidTwice))
	}
	if r.chainSum != r.wantSum {
		out = append(out, fmt.Sprintf("outputs to the settlement address sum to %d sat, the liquidations to %d", r.chainSum, r.wantSum))
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p*float64(len(s))+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func (r *stormReport) markdown() string {
	accepted, dupOK, dupBad, lost, final := r.counts()
	var sub, signed []time.Duration
	for _, l := range r.liqs {
		if l.orig.Code != 0 {
			sub = append(sub, l.orig.End.Sub(l.orig.Start))
		}
		if !l.signedAt.IsZero() {
			signed = append(signed, l.signedAt.Sub(l.orig.Start))
		}
	}
	var statuses []string
	for s, n := range final {
		statuses = append(statuses, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(statuses)
	drain, ratio := "n/a (nothing confirmed)", "n/a"
	if !r.lastConf.IsZero() {
		d := r.lastConf.Sub(r.start)
		drain = fmt.Sprintf("%.1f s", d.Seconds())
		if r.rawTime > 0 {
			ratio = fmt.Sprintf("**%.2f** (goal ≤ 1.3)", d.Seconds()/r.rawTime.Seconds())
		}
	}
	raw := "n/a (no signatures)"
	if r.rawTime > 0 {
		raw = fmt.Sprintf("%.1f s for %d signatures, one after another, the nodes stopped", r.rawTime.Seconds(), r.rawSigs)
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	o := r.opts
	fmt.Fprintf(&b, "| storm: %d accounts, %d clients, %d repeats | |\n|---|---|\n", o.N, o.Clients, o.Repeats)
	row("policy", r.policy)
	row("liquidations accepted (201)", fmt.Sprintf("%d of %d", accepted, o.N))
	row("duplicates answered 200 with the original's ID", fmt.Sprintf("%d of %d (%d otherwise)", dupOK, o.Repeats, dupBad))
	row("final status at the exchange's node", strings.Join(statuses, ", "))
	row("lost (must be 0)", strconv.Itoa(lost))
	row("paid on chain exactly once (must be "+strconv.Itoa(o.N)+")", strconv.Itoa(r.paidOnce))
	row("claimed twice / paid twice", fmt.Sprintf("%d / %d", r.doubleClaimed, r.paidTwice))
	row("sum to the settlement address on btcd vs liquidated", fmt.Sprintf("%d vs %d sat", r.chainSum, r.wantSum))
	row("Bitcoin transactions made", strconv.Itoa(r.transactions))
	row("first submission → last confirmation", drain)
	row("all submissions answered after", fmt.Sprintf("%.1f s", r.submitted.Sub(r.start).Seconds()))
	row("submission latency p50 / p99", ms(percentile(sub, .5))+" / "+ms(percentile(sub, .99)))
	row("submission → signed p50 / p99", fmt.Sprintf("%s / %s (%d signed)", ms(percentile(signed, .5)), ms(percentile(signed, .99)), len(signed)))
	row("peak RSS custodian / exchange / regulator", fmt.Sprintf("%s / %s / %s", r.rss["custodian"], r.rss["exchange"], r.rss["regulator"]))
	row("threshold signatures the storm needed", strconv.Itoa(r.signatures))
	row("raw tss-lib, same machine, same run", raw)
	row("drain time / raw tss-lib time", ratio)
	row("machine load average (1 min; 2 cores, shared)", r.load)
	return b.String()
}

// records is one JSON line per submission: what the margin engine sent,
// what it was answered, and what became of the request.
func (r *stormReport) records() []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, l := range r.liqs {
		for i, s := range append([]submission{l.orig}, l.repeats...) {
			rec := map[string]any{"account": l.acct.ID, "idempotency_key": l.idem, "amount": l.amount, "repeat": i > 0,
				"http_status": s.Code, "error_code": s.ErrCode, "error": s.Err, "request_id": s.ID,
				"submitted_at": s.Start.UTC().Format(time.RFC3339Nano), "latency_ms": float64(s.End.Sub(s.Start).Microseconds()) / 1000,
				"final": l.state()}
			if i == 0 && !l.signedAt.IsZero() {
				rec["signed_after_ms"] = float64(l.signedAt.Sub(s.Start).Microseconds()) / 1000
			}
			enc.Encode(rec)
		}
	}
	return []byte(b.String())
}
