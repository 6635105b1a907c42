package local

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// start starts cmd and returns a channel closed once the shell has exited.
// The shell is left unreaped (a zombie) so that its pid, which is also its
// process group's id, stays reserved until Run has killed the group.
//
// The fork happens on a goroutine locked to its OS thread, and the lock is
// held until the shell exits, because Linux sends Pdeathsig when the
// *thread* that forked the child exits, not the process. Go ends a thread
// whenever a goroutine locked to it returns without unlocking; were the fork
// made on a shared thread, some unrelated goroutine could end that thread
// and SIGKILL a healthy step. Holding the thread keeps it alive for the
// shell's whole life, so Pdeathsig fires only when the runner itself dies.
//
// stage, if set, runs on that thread before the fork and may change what
// only that thread sees (its mount namespace); the thread is then never
// given back to Go's scheduler, which ends it when the goroutine returns.
func start(cmd *exec.Cmd, stage func() error) (<-chan struct{}, error) {
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if stage == nil {
			defer runtime.UnlockOSThread()
		} else if err := stage(); err != nil {
			started <- fmt.Errorf("preparing the sandbox: %w", err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waitExitedNoReap(cmd.Process.Pid)
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// waitExitedNoReap blocks until process pid has exited, leaving it waitable
// (waitid with WNOWAIT); the syscall package does not wrap waitid.
func waitExitedNoReap(pid int) {
	const pPID = 1     // idtype P_PID
	var info [128]byte // siginfo_t; unused, but the kernel writes it
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		// Anything but EINTR (ECHILD if SIGCHLD is ignored) means there is
		// nothing left to wait for; cmd.Wait reports the details.
		if errno != syscall.EINTR {
			return
		}
	}
}

// waitGroupGone waits until process group pgid holds no live process. The
// group's members were just SIGKILLed, so this is usually immediate.
// Zombies count as gone: they run nothing, and where PID 1 does not reap
// orphans (some containers) they never leave the group.
func waitGroupGone(pgid int, limit time.Duration) error {
	give := time.Now().Add(limit)
	pause := 100 * time.Microsecond
	for {
		if syscall.Kill(-pgid, 0) == syscall.ESRCH {
			return nil
		}
		live, err := liveMembers(pgid)
		if err != nil {
			return fmt.Errorf("checking that process group %d is gone: %w", pgid, err)
		}
		if live == 0 {
			return nil
		}
		if time.Now().After(give) {
			return fmt.Errorf("%d processes of process group %d survived SIGKILL for %s; they are probably stuck in uninterruptible I/O (state D in ps)", live, pgid, limit)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// liveMembers counts the processes in group pgid that are not zombies.
func liveMembers(pgid int) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	live := 0
	for _, ent := range entries {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue // it exited meanwhile
		}
		state, group, ok := parseStat(stat)
		if ok && group == pgid && state != 'Z' && state != 'X' {
			live++
		}
	}
	return live, nil
}

// parseStat reads the state and process group from /proc/PID/stat:
// "pid (comm) state ppid pgrp ...". comm may hold spaces and parentheses,
// so fields are counted from the last ')'.
func parseStat(stat []byte) (state byte, pgrp int, ok bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	return f[0][0], pgrp, err == nil
}
