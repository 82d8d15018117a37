package recovery

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ReportFormat names the drill report format.
const ReportFormat = "triad-drill-report/v1"

// Verdicts.
const (
	Pass = "pass"
	Fail = "fail"
)

// Step is one timed step of a drill.
type Step struct {
	Name       string    `json:"name"`
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	OK         bool      `json:"ok"`
	Detail     string    `json:"detail,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Attestation is one node's signature over a report: made with the node's
// libp2p identity key (held sealed by its HSM), so it is checked against
// the peer ID every other node pins.
type Attestation struct {
	Party     string `json:"party"`
	PeerID    string `json:"peer_id"`
	Signature []byte `json:"signature"`
}

// Report is a drill's record: what ran, how long each step took, the
// verdict, and the participating nodes' signatures.
type Report struct {
	Format     string            `json:"format"`
	Drill      string            `json:"drill"`
	ID         string            `json:"id"`
	Started    time.Time         `json:"started"`
	Finished   time.Time         `json:"finished"`
	DurationMS int64             `json:"duration_ms"`
	Params     map[string]string `json:"params,omitempty"`
	Steps      []Step            `json:"steps"`
	Verdict    string            `json:"verdict"`
	// Signatures are over Digest(); they are not part of it.
	Signatures []Attestation `json:"signatures,omitempty"`
}

// Digest is what nodes sign: the report without its signatures.
func (r *Report) Digest() [32]byte {
	c := *r
	c.Signatures = nil
	b, _ := json.Marshal(c) // plain data: cannot fail
	return sha256.Sum256(append([]byte("triad/drill-report/v1\n"), b...))
}

// SigningBytes is what a node's identity key signs for r.
func SigningBytes(digest [32]byte) []byte {
	return append([]byte("triad/drill-attest/v1\n"), digest[:]...)
}

// Drill records a drill as it runs. Safe for concurrent steps.
type Drill struct {
	mu  sync.Mutex
	now func() time.Time
	r   Report
}

// NewDrill starts a report for drill kind with id.
func NewDrill(kind, id string, now func() time.Time) *Drill {
	if now == nil {
		now = time.Now
	}
	t := now().UTC()
	return &Drill{now: now, r: Report{Format: ReportFormat, Drill: kind, ID: id, Started: t, Params: map[string]string{}}}
}

// Param records a drill parameter.
func (d *Drill) Param(k, v string) {
	d.mu.Lock()
	d.r.Params[k] = v
	d.mu.Unlock()
}

// Running is a step in progress.
type Running struct {
	d     *Drill
	name  string
	start time.Time
}

// Step starts a named step.
func (d *Drill) Step(name string) *Running { return &Running{d: d, name: name, start: d.now()} }

// End finishes the step: failed when err is non-nil.
func (s *Running) End(detail string, err error) Step {
	st := Step{Name: s.name, Started: s.start.UTC(), DurationMS: s.d.now().Sub(s.start).Milliseconds(), OK: err == nil, Detail: detail}
	if err != nil {
		st.Error = err.Error()
	}
	s.d.mu.Lock()
	s.d.r.Steps = append(s.d.r.Steps, st)
	s.d.mu.Unlock()
	return st
}

// Finish closes the report: pass when there was at least one step and
// every step passed.
func (d *Drill) Finish() *Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.r
	r.Finished = d.now().UTC()
	r.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
	r.Verdict = Pass
	if len(r.Steps) == 0 {
		r.Verdict = Fail
	}
	for _, s := range r.Steps {
		if !s.OK {
			r.Verdict = Fail
		}
	}
	r.Steps = append([]Step(nil), r.Steps...)
	return &r
}

// Attest adds a node's signature after checking it.
func (r *Report) Attest(a Attestation) error {
	if err := verifyAttestation(r.Digest(), a); err != nil {
		return err
	}
	r.Signatures = append(r.Signatures, a)
	sort.Slice(r.Signatures, func(i, j int) bool { return r.Signatures[i].Party < r.Signatures[j].Party })
	return nil
}

// SignWith makes an attestation with a libp2p identity key (what a node's
// attest endpoint does).
func SignWith(r *Report, party string, key crypto.PrivKey) (Attestation, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Attestation{}, err
	}
	sig, err := key.Sign(SigningBytes(r.Digest()))
	if err != nil {
		return Attestation{}, err
	}
	return Attestation{Party: party, PeerID: id.String(), Signature: sig}, nil
}

// Report verification errors.
var (
	ErrReportTampered  = errors.New("recovery: drill report signature does not verify")
	ErrReportUntrusted = errors.New("recovery: drill report signed by an unknown node")
)

func verifyAttestation(d [32]byte, a Attestation) error {
	id, err := peer.Decode(a.PeerID)
	if err != nil {
		return fmt.Errorf("%w: %s: peer id: %v", ErrReportTampered, a.Party, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrReportTampered, a.Party, err)
	}
	ok, err := pub.Verify(SigningBytes(d), a.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w: by %s (%s)", ErrReportTampered, a.Party, a.PeerID)
	}
	return nil
}

// Verify checks every signature over the report's content and that at
// least minSigners distinct parties signed. trusted maps party → peer ID;
// when non-empty, every signature must come from the peer trusted for its
// party (otherwise the check proves integrity, not authorship).
func (r *Report) Verify(trusted map[string]string, minSigners int) error {
	if r.Format != ReportFormat {
		return fmt.Errorf("%w: format %q", ErrReportTampered, r.Format)
	}
	if r.Verdict != Pass && r.Verdict != Fail {
		return fmt.Errorf("%w: verdict %q", ErrReportTampered, r.Verdict)
	}
	d := r.Digest()
	seen := map[string]bool{}
	for _, a := range r.Signatures {
		if want, ok := trusted[a.Party]; len(trusted) > 0 && (!ok || want != a.PeerID) {
			return fmt.Errorf("%w: %s signed as %s", ErrReportUntrusted, a.Party, a.PeerID)
		}
		if err := verifyAttestation(d, a); err != nil {
			return err
		}
		seen[a.Party] = true
	}
	if len(seen) < minSigners {
		return fmt.Errorf("%w: %d party(ies) signed, need %d", ErrReportTampered, len(seen), minSigners)
	}
	return nil
}

// DecodeReport parses a JSON report strictly.
func DecodeReport(b []byte) (*Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recovery: decoding drill report: %w", err)
	}
	return &r, nil
}

// JSON encodes the report, indented.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// Markdown renders the report for people. The JSON file is the one that
// is signed and verified.
func (r *Report) Markdown() string {
	var b strings.Builder
	d := r.Digest()
	fmt.Fprintf(&b, "# Triad drill: %s\n\n", r.Drill)
	fmt.Fprintf(&b, "- **Verdict:** %s\n- **Drill ID:** %s\n- **Started:** %s\n- **Duration:** %s\n- **Digest:** `%s`\n",
		strings.ToUpper(r.Verdict), r.ID, r.Started.Format(time.RFC3339), time.Duration(r.DurationMS)*time.Millisecond, hex.EncodeToString(d[:]))
	if len(r.Params) > 0 {
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\n## Parameters\n\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: `%s`\n", k, r.Params[k])
		}
	}
	b.WriteString("\n## Steps\n\n| # | step | result | time | detail |\n|---|---|---|---|---|\n")
	for i, s := range r.Steps {
		res, det := "ok", s.Detail
		if !s.OK {
			res, det = "FAILED", strings.TrimSpace(s.Detail+" "+s.Error)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, md(s.Name), res, time.Duration(s.DurationMS)*time.Millisecond, md(det))
	}
	b.WriteString("\n## Signatures\n\n")
	if len(r.Signatures) == 0 {
		b.WriteString("none\n")
	}
	for _, a := range r.Signatures {
		fmt.Fprintf(&b, "- %s — node `%s`\n", a.Party, a.PeerID)
	}
	b.WriteString("\nCheck with `triad drill verify <report.json>`.\n")
	return b.String()
}

func md(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }
