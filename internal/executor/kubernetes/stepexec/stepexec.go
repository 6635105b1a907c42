// Package stepexec is `runbook step-exec`, the entrypoint of a step's
// container on Kubernetes: it runs the step's command and writes its output
// as frame records, so that the executor can tell stdout from stderr in the
// merged container log.
package stepexec

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/runbookhq/runbook/internal/executor/kubernetes/frame"
)

// drainLimit bounds the wait for the command's output once its shell
// and process group are gone.
const drainLimit = time.Second

// shNote is the first record of a step whose image has no bash.
const shNote = "runbook: bash was not found in the step's image, so this step runs with /bin/sh -e and pipefail is off"

// Run runs script, writes its output as frame records to out and
// returns the exit code for the container. It never writes anything to out
// that is not a record.
func Run(ctx context.Context, script string, out io.Writer) int {
	w := frame.NewWriter(out)
	fail := func(format string, a ...any) int {
		_ = w.Write(frame.Stderr, []byte("runbook step-exec: "+fmt.Sprintf(format, a...)))
		_ = w.Write(frame.Exit, []byte("127"))
		_ = w.Flush()
		return 127
	}
	var cmd *exec.Cmd
	var err error
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd = exec.Command(bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script)
	} else {
		cmd = exec.Command("/bin/sh", "-e", "-c", script)
		_ = w.Write(frame.Stderr, []byte(shNote))
	}
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Plain pipes rather than StdoutPipe: the shell's exit, not the pipes'
	// EOF, ends the step, so a background process that keeps them open
	// cannot hang it.
	var r, wr [2]*os.File
	for i := range r {
		if r[i], wr[i], err = os.Pipe(); err != nil {
			return fail("creating a pipe: %v", err)
		}
	}
	cmd.Stdout, cmd.Stderr = wr[0], wr[1]
	// Catch signals before the command exists, so a SIGTERM that arrives
	// early is still passed on rather than killing us without an exit record.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	err = cmd.Start()
	wr[0].Close()
	wr[1].Close()
	if err != nil {
		return fail("starting %s: %v", cmd.Path, err)
	}
	pgid := cmd.Process.Pid
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = syscall.Kill(-pgid, s.(syscall.Signal))
			case <-ctx.Done():
				_ = syscall.Kill(-pgid, syscall.SIGTERM)
				return
			case <-stop:
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for i, kind := range []byte{frame.Stdout, frame.Stderr} {
		wg.Go(func() {
			_ = frame.Lines(r[i], frame.MaxText,
				func(l []byte) { _ = w.Write(kind, l) },
				func() { _ = w.Flush() })
		})
	}
	err = cmd.Wait()
	close(stop)
	// Whatever the shell left in its group would outlive the step's log.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	readers := make(chan struct{})
	go func() { wg.Wait(); close(readers) }()
	select {
	case <-readers:
	case <-time.After(drainLimit):
		// Only a process that left the group (setsid) still holds a pipe.
		for _, f := range r {
			_ = f.SetReadDeadline(time.Now())
		}
		<-readers
		_ = w.Write(frame.Stderr, []byte("runbook: stopped reading output: a process that left the step's process group (setsid?) still holds stdout or stderr"))
	}
	code := 0
	if err != nil {
		code = 1
		if ps := cmd.ProcessState; ps != nil {
			code = ps.ExitCode()
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
	_ = w.Write(frame.Exit, []byte(strconv.Itoa(code)))
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "runbook step-exec: writing output:", err)
	}
	return code
}
