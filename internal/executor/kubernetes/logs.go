package kubernetes

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/executor/kubernetes/frame"
	"github.com/runbookhq/runbook/internal/logline"
)

// reconnectDelay spaces out attempts to open a pod's log stream.
const reconnectDelay = 200 * time.Millisecond

// unreadLogWait is how long finish waits for a log that could not be opened
// at all yet (the node's log server lags behind the pod's status), rather
// than the drain time: without it a quick step could lose its whole log.
const unreadLogWait = 10 * time.Second

// logFollower reads one step's pod log and hands its lines to the sink.
type logFollower struct {
	e      *Executor
	job    string
	sink   executor.Sink
	cancel context.CancelFunc
	done   chan struct{}

	// Only the follower goroutine touches these until done is closed.
	n         int64     // lines delivered
	lastSeq   uint64    // highest record delivered
	unframed  int       // lines that were not records, delivered
	last      time.Time // time of the last delivered line
	sinkErr   error
	exit      int
	gotExit   bool
	exitFlag  atomic.Bool  // gotExit, for finish
	connected atomic.Bool  // a log stream was opened
	lastData  atomic.Int64 // UnixNano of the last line read
}

// followLogs starts following the log of the Job's newest pod.
func (e *Executor) followLogs(job string, sink executor.Sink) *logFollower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &logFollower{e: e, job: job, sink: sink, cancel: cancel, done: make(chan struct{})}
	f.lastData.Store(time.Now().UnixNano())
	go f.run(ctx)
	return f
}

func (f *logFollower) run(ctx context.Context) {
	defer close(f.done)
	events, unsubscribe := f.e.subscribe(f.job)
	defer unsubscribe()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		// Wait for a started container, or try again after a failed stream.
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-retry.C:
		}
		_, pod, _ := f.e.cached(f.job)
		if !containerStarted(pod) {
			retry.Reset(reconnectDelay)
			continue
		}
		ended := f.stream(ctx, pod.Name)
		if f.gotExit || f.sinkErr != nil {
			return
		}
		if ended {
			// A kubelet closes the stream once the container has exited;
			// nothing more will come.
			if _, p, _ := f.e.cached(f.job); p != nil && p.Name == pod.Name && podGone(p) {
				return
			}
		}
		retry.Reset(reconnectDelay)
	}
}

// stream reads the pod's log from the start, skipping what an earlier
// stream delivered. It reports whether the stream ended cleanly.
func (f *logFollower) stream(ctx context.Context, pod string) bool {
	req := f.e.client.CoreV1().Pods(f.e.cfg.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: ContainerName, Follow: true})
	rc, err := req.Stream(ctx)
	if err != nil {
		return false
	}
	defer rc.Close()
	f.connected.Store(true)
	unframed := 0 // lines in this stream that were not records
	err = frame.Lines(rc, frame.MaxRecord, func(line []byte) {
		f.lastData.Store(time.Now().UnixNano())
		if f.gotExit || f.sinkErr != nil {
			return
		}
		kind, seq, text, ok := frame.Parse(line)
		if !ok {
			unframed++
			if unframed <= f.unframed {
				return
			}
			f.unframed++
			f.emit(logline.Stderr, line)
			return
		}
		if seq <= f.lastSeq {
			return
		}
		f.lastSeq = seq
		switch kind {
		case frame.Stdout:
			f.emit(logline.Stdout, text)
		case frame.Stderr:
			f.emit(logline.Stderr, text)
		case frame.Exit:
			f.exit, f.gotExit = frame.ExitCode(text)
			f.exitFlag.Store(f.gotExit)
		}
	}, nil)
	return err == nil
}

func (f *logFollower) emit(s logline.Stream, text []byte) {
	at := time.Now()
	if at.Before(f.last) {
		at = f.last
	}
	f.last = at
	f.n++
	f.sinkErr = f.sink.WriteLine(logline.Line{N: f.n, Stream: s, Time: at, Text: text})
}

// finish ends the follower once the Job has ended: at once when the exit
// record or the stream's end was read, otherwise once no line has arrived
// for drain since the later of the last line and this call (some log
// servers never close a follow stream). Lines still arriving are never cut.
// It returns the sink's error.
func (f *logFollower) finish(drain time.Duration) error {
	called := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return f.sinkErr
		case <-t.C:
		}
		since := time.Unix(0, f.lastData.Load())
		if since.Before(called) {
			since = called
		}
		limit := drain
		if !f.connected.Load() {
			limit = max(drain, unreadLogWait)
		}
		idle := time.Since(since)
		if f.exitFlag.Load() || idle >= limit {
			f.cancel()
			<-f.done
			return f.sinkErr
		}
		t.Reset(limit - idle)
	}
}

// exitCode is the exit code from the exit record, once finish returned.
func (f *logFollower) exitCode() (int, bool) { return f.exit, f.gotExit }
