package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/triad-custody/triad/custody"
	"github.com/triad-custody/triad/hsm"
	"github.com/triad-custody/triad/recovery"
)

var (
	// ErrFailed: the drill ran and a step failed (the CLI's exit 1).
	ErrFailed = errors.New("drill: failed")
	// ErrUsage: the caller's mistake, found before the drill ran (exit 1).
	// Any other error means the drill could not run (exit 2).
	ErrUsage = errors.New("drill: usage")
)

type markedError struct {
	error
	mark error
}

func (e markedError) Is(target error) bool { return target == e.mark }
func (e markedError) Unwrap() error        { return e.error }

func usage(format string, a ...any) error {
	return markedError{fmt.Errorf(format, a...), ErrUsage}
}

// Config is what every drill takes besides its cluster.
type Config struct {
	KeyID     string           // the canary key (drills that sign)
	ReportDir string           // where the JSON and Markdown reports go (default ".")
	Out       io.Writer        // progress, one line per step
	Now       func() time.Time // default time.Now
	ID        string           // default: the start time and a random suffix
}

// run is one drill in progress.
type run struct {
	c    Cluster
	cfg  Config
	out  io.Writer
	d    *recovery.Drill
	kind string
	id   string
	pub  string // the group key seen so far
}

func start(c Cluster, cfg Config, kind string) (*run, error) {
	if len(c.Parties()) == 0 {
		return nil, usage("give each node's config with --config (at least one)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.ReportDir == "" {
		cfg.ReportDir = "."
	}
	id := cfg.ID
	if id == "" {
		id = cfg.Now().UTC().Format("20060102T150405Z") + "-" + recovery.NewNonce()[:6]
	}
	r := &run{c: c, cfg: cfg, out: cfg.Out, kind: kind, id: id, d: recovery.NewDrill(kind, id, cfg.Now)}
	for _, p := range c.Parties() {
		if err := c.Reachable(p); err != nil {
			// A node that is down: the drill records it.
			fmt.Fprintf(r.out, "  note: %s: %v\n", p, err)
		}
	}
	if cfg.KeyID != "" {
		r.d.Param("key_id", cfg.KeyID)
		for _, p := range c.Parties() {
			pol, _ := c.Policy(p)
			if err := custody.CheckRawDigest(pol, cfg.KeyID); err != nil {
				return nil, usage("%s: %s is not a canary key in %s's policy: %v", cfg.KeyID, cfg.KeyID, p, err)
			}
		}
	}
	fmt.Fprintf(r.out, "drill %s %s\n", kind, id)
	return r, nil
}

// reachable are the parties whose APIs answer.
func (r *run) reachable() []string {
	var out []string
	for _, p := range r.c.Parties() {
		if r.c.Reachable(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

func (r *run) needOne() error {
	if len(r.reachable()) == 0 {
		return errors.New("no node's API is reachable: the drill could not run")
	}
	return nil
}

// step runs and prints one drill step.
func (r *run) step(name string, f func() (string, error)) bool {
	fmt.Fprintf(r.out, "  ... %s\n", name)
	st := r.d.Step(name).End(f())
	mark := "ok  "
	if !st.OK {
		mark = "FAIL"
	}
	line := fmt.Sprintf("  %s %s (%s)", mark, st.Name, time.Duration(st.DurationMS)*time.Millisecond)
	if st.Detail != "" {
		line += ": " + st.Detail
	}
	if st.Error != "" {
		line += ": " + st.Error
	}
	fmt.Fprintln(r.out, line)
	return st.OK
}

// finish has every reachable node record the report on its audit chain
// and sign it (the participants first, then any other reachable node, so
// that the drill lands on every chain it can), writes it, and returns the
// report with ErrFailed unless it passed.
func (r *run) finish(participants []string) (*recovery.Report, error) {
	rep := r.d.Finish()
	var signed []string
	order := slices.Clone(participants)
	for _, p := range r.c.Parties() {
		if !slices.Contains(order, p) {
			order = append(order, p)
		}
	}
	for _, p := range order {
		if r.c.Reachable(p) != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		a, err := r.c.Attest(ctx, p, rep)
		cancel()
		if err == nil {
			err = rep.Attest(a)
		}
		if err != nil {
			fmt.Fprintf(r.out, "  note: %s did not record and sign the report: %v\n", p, err)
			continue
		}
		signed = append(signed, p)
	}
	if err := os.MkdirAll(r.cfg.ReportDir, 0o755); err != nil {
		return rep, err
	}
	base := filepath.Join(r.cfg.ReportDir, "drill-"+r.kind+"-"+r.id)
	if err := hsm.WriteFileAtomic(base+".json", rep.JSON(), 0o644); err != nil {
		return rep, err
	}
	if err := hsm.WriteFileAtomic(base+".md", []byte(rep.Markdown()), 0o644); err != nil {
		return rep, err
	}
	fmt.Fprintf(r.out, "report: %s.json (recorded on the audit chain and signed by %s), %s.md\n", base, strings.Join(signed, ", "), base)
	fmt.Fprintf(r.out, "verdict: %s\n", strings.ToUpper(rep.Verdict))
	if rep.Verdict != recovery.Pass {
		return rep, markedError{fmt.Errorf("drill %s failed", r.kind), ErrFailed}
	}
	return rep, nil
}
