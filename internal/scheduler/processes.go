package scheduler

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/runbookhq/runbook/internal/executor"
)

// Processes records the process group of every running step: in memory,
// so a forced shutdown can kill it, and in DataDir/pgids, so a scheduler
// started after a crash kills what the dead one left. An executor built
// before the scheduler reports groups to it (the local executor's
// Options.OnStart = Started); then the scheduler is given it in
// Config.Processes. Executors without process groups need none.
type Processes struct {
	dataDir string
	log     *slog.Logger

	mu   sync.Mutex
	live map[taskKey]int // running attempts' process groups
}

// NewProcesses keeps its records in dataDir/pgids (the scheduler's
// Config.DataDir); log nil means slog.Default().
func NewProcesses(dataDir string, log *slog.Logger) (*Processes, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(pgidDir(dataDir), 0o700); err != nil {
		return nil, fmt.Errorf("scheduler: creating %s (is the data directory writable?): %w", pgidDir(dataDir), err)
	}
	return &Processes{dataDir: dataDir, log: log.With("component", "scheduler"), live: map[taskKey]int{}}, nil
}

// Started records a step attempt's process group. The record on disk holds
// the group id and the leader's start time, so a recycled pid is never
// killed.
func (p *Processes) Started(spec executor.Spec, pgid int) {
	if run, err := strconv.ParseInt(spec.RunID, 10, 64); err == nil {
		p.mu.Lock()
		p.live[taskKey{run, spec.Step, spec.Attempt}] = pgid
		p.mu.Unlock()
	}
	start, err := procStart(pgid)
	if err != nil {
		p.log.Warn("cannot record the step's process group; it may outlive a crash", "run", spec.RunID, "step", spec.Step, "err", err)
		return
	}
	body := fmt.Sprintf("%d %d\n", pgid, start)
	if err := os.WriteFile(p.recordPath(spec), []byte(body), 0o600); err != nil {
		p.log.Warn("cannot record the step's process group; it may outlive a crash", "run", spec.RunID, "step", spec.Step, "err", err)
	}
}

// ended forgets an attempt's process group: the executor has returned, so
// the group is gone and its id may be reused from now on.
func (p *Processes) ended(spec executor.Spec, key taskKey) {
	p.mu.Lock()
	delete(p.live, key)
	p.mu.Unlock()
	if err := os.Remove(p.recordPath(spec)); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.log.Warn("removing a process record", "run", spec.RunID, "step", spec.Step, "err", err)
	}
}

// killAll SIGKILLs every running attempt's process group. A group is
// forgotten as soon as its executor returns; until then the group (or its
// unreaped shell) holds the id, so it is not reused.
func (p *Processes) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pgid := range p.live {
		if pgid > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

// recordPath names a step attempt's process record. The step name is
// hashed: it may hold any character.
func (p *Processes) recordPath(spec executor.Spec) string {
	name := fmt.Sprintf("%s-%s-%d", spec.RunID, stepHash(spec.Step), spec.Attempt)
	return filepath.Join(pgidDir(p.dataDir), name)
}
