package scheduler

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/runbookhq/runbook/internal/store"
)

// DefaultRerunCopyLimit bounds the workspace a re-run of failed steps
// copies (see Config.RerunCopyLimit).
const DefaultRerunCopyLimit = 1 << 30

// workspace is run's workspace directory in this process's data dir.
func (s *Scheduler) workspace(runID int64) string {
	return filepath.Join(workspaceRoot(s.cfg.DataDir), strconv.FormatInt(runID, 10))
}

// makeWorkspace creates run's workspace for a step about to start. It
// waits while a re-run's copied workspace is being put in place, so a step
// never starts in an empty one.
func (s *Scheduler) makeWorkspace(runID int64) (string, error) {
	s.wsMu.RLock()
	defer s.wsMu.RUnlock()
	ws := s.workspace(runID)
	return ws, os.MkdirAll(ws, 0o755)
}

// stageWorkspace copies run from's workspace into a new directory beside
// the workspaces, for a re-run that reuses from's succeeded steps: their
// files must be there. It returns "" when there is nothing to copy here
// (the steps ran on other workers). A workspace over the copy limit is
// refused with ErrInvalid: nothing is created.
func (s *Scheduler) stageWorkspace(from int64) (string, error) {
	src := s.workspace(from)
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	dst, err := os.MkdirTemp(workspaceRoot(s.cfg.DataDir), ".rerun-")
	if err != nil {
		return "", fmt.Errorf("scheduler: preparing the re-run's workspace: %w", err)
	}
	budget := s.cfg.RerunCopyLimit
	if err := copyTree(src, dst, &budget); err != nil {
		os.RemoveAll(dst)
		if errors.Is(err, errTooLarge) {
			return "", fmt.Errorf("%w: re-running the failed steps of run %d copies its workspace, which holds more than %d bytes (the limit): re-run the whole run instead", store.ErrInvalid, from, s.cfg.RerunCopyLimit)
		}
		return "", fmt.Errorf("scheduler: copying the workspace of run %d for its re-run: %w", from, err)
	}
	return dst, nil
}

// placeWorkspace moves a staged copy into place as run's workspace. The
// caller holds wsMu, so no step of run has started yet. The run exists
// already, so a failure is logged: its steps then start without the files.
func (s *Scheduler) placeWorkspace(staged string, runID int64) {
	ws := s.workspace(runID)
	if err := os.Rename(staged, ws); err != nil {
		os.RemoveAll(staged)
		s.log.Error("could not put the copied workspace of a re-run in place; its steps start without the reused steps' files",
			"run", runID, "workspace", ws, "err", err)
	}
}

// removeStaged removes the copies a process that died during a re-run's
// submission left behind.
func (s *Scheduler) removeStaged() {
	left, _ := filepath.Glob(filepath.Join(workspaceRoot(s.cfg.DataDir), ".rerun-*"))
	for _, d := range left {
		if err := os.RemoveAll(d); err != nil {
			s.log.Warn("could not remove an unused copy of a workspace", "dir", d, "err", err)
		}
	}
}

var errTooLarge = errors.New("workspace over the copy limit")

// copyTree copies the directory src into the existing directory dst:
// directories, regular files (contents, permissions and modification
// times, so build tools see nothing changed) and symlinks as symlinks,
// never followed, so a link cannot pull in a file from outside the
// workspace. Hard links become separate files. Sockets, pipes and devices
// are skipped. budget is the number of bytes left to copy.
func copyTree(src, dst string, budget *int64) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			if rel != "." {
				if err := os.Mkdir(target, mode.Perm()|0o700); err != nil {
					return err
				}
			}
			return nil
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case mode.IsRegular():
			if *budget -= info.Size(); *budget < 0 {
				return errTooLarge
			}
			return copyFile(path, target, info)
		}
		return nil
	})
}

func copyFile(src, dst string, info fs.FileInfo) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}
