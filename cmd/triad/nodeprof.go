package main

import (
	"log/slog"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names a file `triad node run` writes a CPU profile to,
// from start to shutdown (for the storm benchmark: where a node's time
// goes). A profile holds call stacks and sample counts, never data.
const cpuProfileEnv = "TRIAD_CPU_PROFILE"

// startCPUProfile starts the CPU profile TRIAD_CPU_PROFILE asks for; the
// returned func stops it and closes the file. A profile that cannot be
// started is logged, and the node runs without it.
func startCPUProfile(log *slog.Logger) (stop func()) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Warn("no CPU profile", "env", cpuProfileEnv, "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Warn("no CPU profile", "env", cpuProfileEnv, "err", err)
		return func() {}
	}
	log.Info("writing a CPU profile", "file", path)
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Warn("CPU profile", "file", path, "err", err)
		}
	}
}
