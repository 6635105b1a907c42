package scheduler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/quota"
)

// LostOnRestart is the reason recorded for the steps a dead process left
// running.
const LostOnRestart = "the server stopped while the step ran (it was restarted); the step's processes were killed"

// lostOnRestart is LostOnRestart in the words of role.
func lostOnRestart(role string) string {
	if role == "worker" {
		return "the worker stopped while the step ran (it was restarted on the same data directory); the step's processes were killed"
	}
	return LostOnRestart
}

// record names one attempt a process record was kept for: the step by its
// name's hash, as in the record's file name.
type record struct {
	run     int64
	step    string // hex of the name's hash, see recordPath
	attempt int
}

func stepHash(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:8])
}

// parseRecord reads a record's file name, run-stephash-attempt.
func parseRecord(name string) (record, bool) {
	f := strings.Split(name, "-")
	if len(f) != 3 {
		return record{}, false
	}
	run, err1 := strconv.ParseInt(f[0], 10, 64)
	attempt, err2 := strconv.Atoi(f[2])
	return record{run, f[1], attempt}, err1 == nil && err2 == nil
}

// reapOrphans SIGKILLs the process groups a dead predecessor recorded, then
// removes the records. The group's leader (the shell) died with the server
// (Pdeathsig), so the group is found by its members. Linux does not reuse a
// number while a group of that id exists, so members with that group id
// are the step's, unless a new leader of that pid started later (a recycled
// pid), or a member is older than the recorded leader.
//
// It returns the attempts the records name: the previous process of this
// data directory started them and is gone, so they are lost.
func (s *Scheduler) reapOrphans() map[record]bool {
	dir := pgidDir(s.cfg.DataDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("cannot read process records; orphans of a crash may survive", "dir", dir, "err", err)
		return nil
	}
	if len(entries) == 0 {
		return nil
	}
	left := map[record]bool{}
	groups := procGroups()
	for _, ent := range entries {
		if rec, ok := parseRecord(ent.Name()); ok {
			left[rec] = true
		}
		path := filepath.Join(dir, ent.Name())
		body, err := os.ReadFile(path)
		var pgid int
		var start uint64
		if err == nil {
			_, err = fmt.Sscan(string(body), &pgid, &start)
		}
		if err != nil || pgid <= 1 {
			s.log.Warn("ignoring an unreadable process record", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		if ours(groups[pgid], pgid, start) {
			if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
				s.log.Warn("killed the processes of a step orphaned by a crash", "record", ent.Name(), "pgid", pgid, "processes", len(groups[pgid]))
			}
		}
		os.Remove(path)
	}
	return left
}

// reapByWorkspace SIGKILLs every process whose environment places it in
// one of this data directory's step workspaces. It runs at start, before
// any step of this process exists, so each one is a dead predecessor's: the
// records miss a step whose group was not yet recorded when the server
// died, and a process that left its group with setsid. Reading another
// user's environ fails, and such a process is not ours to kill anyway.
func (s *Scheduler) reapByWorkspace() {
	marker := []byte("RUNBOOK_WORKSPACE=" + workspaceRoot(s.cfg.DataDir) + string(filepath.Separator))
	self := os.Getpid()
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range paths {
		pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
		if pid == self {
			continue
		}
		env, err := os.ReadFile(p)
		if err != nil || !hasEnvEntry(env, marker) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			s.log.Warn("killed a step process orphaned by a crash", "pid", pid)
		}
	}
}

// hasEnvEntry reports whether a NUL-separated environ has an entry that
// starts with prefix.
func hasEnvEntry(environ, prefix []byte) bool {
	for _, e := range bytes.Split(environ, []byte{0}) {
		if bytes.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// proc is one process as /proc shows it.
type proc struct {
	pid   int
	start uint64 // clock ticks after boot
}

func ours(members []proc, pgid int, start uint64) bool {
	if len(members) == 0 {
		return false
	}
	for _, p := range members {
		if (p.pid == pgid && p.start != start) || p.start < start {
			return false
		}
	}
	return true
}

// procGroups maps process group ids to their members.
func procGroups() map[int][]proc {
	groups := map[int][]proc{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // it exited meanwhile
		}
		pgrp, start, err := parseStat(b)
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
		groups[pgrp] = append(groups[pgrp], proc{pid, start})
	}
	return groups
}

// procStart returns a process's start time from /proc/<pid>/stat.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	_, start, err := parseStat(b)
	return start, err
}

// parseStat reads fields 5 (pgrp) and 22 (starttime) of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted after its last ')'.
func parseStat(b []byte) (pgrp int, start uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, errors.New("short /proc stat")
	}
	if pgrp, err = strconv.Atoi(f[2]); err != nil {
		return 0, 0, err
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return pgrp, start, err
}

// markLost applies ExecutorLost to every step a previous process left
// running. This process runs nothing yet, so in the single-server mode no
// live owner holds them; the engine retries or fails each one, and the stale
// start_step commands are completed when claimed. A queued step never
// started a process (StepStarted is applied before the executor runs), and
// its start_step command is still in the outbox, so it simply runs once
// claimed (at once, or when the dead owner's lease expires): a restart does
// not cost it an attempt.
//
// On a shared database another live process may own a running step, so
// only the attempts in left are marked: this data directory's previous
// process recorded them, and it is gone (reapOrphans killed what was left
// of them). Their leases need not run out. Any other running step is lost
// only when its owner's lease expires (takenOver).
func (s *Scheduler) markLost(ctx context.Context, left map[record]bool) error {
	runs, err := s.cfg.Store.RunsInProgress(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: recovery: listing runs in progress: %w", err)
	}
	for _, r := range runs {
		if r.Status == engine.RunQueued && r.Admission != quota.Admitted {
			continue // waiting in its tenant's line: the store admits it when a slot or minutes free up
		}
		if r.Status == engine.RunQueued {
			// Created, but the process died before requesting it.
			if _, err := s.applyOnce(ctx, r.ID, engine.Event{Kind: engine.RunRequested}); err != nil {
				return fmt.Errorf("scheduler: recovery: requesting run %d: %w", r.ID, err)
			}
			s.log.Warn("run created but never requested by a previous server process; requested now", "run", r.ID)
			continue
		}
		for _, st := range r.Steps {
			if st.Status != engine.StepRunning || (s.cfg.Shared && !left[record{r.ID, stepHash(st.Name), st.Attempt}]) {
				continue
			}
			e := engine.Event{Kind: engine.ExecutorLost, Step: st.Name, Attempt: st.Attempt, Reason: lostOnRestart(s.cfg.Role)}
			if _, err := s.applyOnce(ctx, r.ID, e); err != nil {
				return fmt.Errorf("scheduler: recovery: marking step %q of run %d lost: %w", st.Name, r.ID, err)
			}
			s.log.Warn("step lost by a previous server process", "run", r.ID, "step", st.Name, "attempt", st.Attempt)
		}
	}
	return nil
}
