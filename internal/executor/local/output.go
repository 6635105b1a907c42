package local

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// MaxLineBytes is the longest piece of a line a sink receives. A longer line
// arrives as several consecutive lines of at most this size; no byte is lost.
const MaxLineBytes = 64 << 10

// drainDelay is how long Run waits, once every process of the step's group
// is gone, for pipes that deliver nothing more. Only a process that left the
// group can still hold them open then, and its output is not worth hanging
// the step for. Output still flowing (a slow sink, a full pipe being read)
// is never cut: the wait only counts while both readers sit idle in read(2).
const drainDelay = 500 * time.Millisecond

const cutNote = "runbook: stopped reading output: a process that left the step's process group (setsid?) still holds stdout or stderr"

// readers recycles the 64 KiB buffers: a step that prints nothing should not
// pay for allocating and zeroing them.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, MaxLineBytes) }}

// output reads a step's stdout and stderr and numbers their lines into one
// sequence for the sink, in the order they were read.
//
// Each read(2) is stamped, at nanosecond precision, the moment it returns;
// every line it completes carries that time. A reader that has read lines
// numbers none of them while the other reader holds lines read earlier
// (pending[j] before its own): so line numbers follow read times, across
// both streams, and readers of the log that order by number see the order
// the lines were read in. Lines written to the two streams faster than we
// read them (both already waiting in their pipes when we wake) share no
// moment of reading that could order them: they come as two runs.
type output struct {
	sink    executor.Sink
	mu      sync.Mutex // serialises sink calls, numbering and pending
	turn    *sync.Cond // on mu: signalled when pending changes
	pending [2]time.Time
	n       int64
	err     error         // the sink's first error; later lines are dropped
	last    time.Time     // when the last delivered line was read
	r, w    [2]*os.File   // read (ours) and write (the child's) ends: stdout, stderr
	done    chan struct{} // one send per reader that has finished
	cutOff  bool

	// limits, when set (sandboxed steps), turns on the watch for messages
	// that say a rlimit was hit; hit records which (see limitNotes).
	limits *Limits
	hit    struct{ procs, files bool }

	// reading[i] is the UnixNano at which reader i entered the read(2) it
	// is blocked in, 0 while it handles lines; ended[i] once it returned.
	reading [2]atomic.Int64
	ended   [2]atomic.Bool
}

var streams = [2]logline.Stream{logline.Stdout, logline.Stderr}

func newOutput(sink executor.Sink) *output {
	o := &output{sink: sink, done: make(chan struct{}, 2)}
	o.turn = sync.NewCond(&o.mu)
	return o
}

// emit numbers and delivers one line that is not from a reader (a note of
// ours), stamped now.
func (o *output) emit(s logline.Stream, text []byte, at time.Time) {
	o.mu.Lock()
	o.deliver(s, text, at)
	o.mu.Unlock()
}

// emitRead numbers and delivers a line reader i read at time at, once no
// line read earlier by the other reader is still waiting for its number.
// text may alias a read buffer: the sink contract says sinks copy what they
// keep.
func (o *output) emitRead(i int, text []byte, at time.Time) {
	o.mu.Lock()
	for o.earlier(1-i, i, at) {
		o.turn.Wait()
	}
	o.deliver(streams[i], text, at)
	o.mu.Unlock()
}

// earlier reports whether reader j holds lines read before at (ties go to
// stdout, reader 0). Called with mu held.
func (o *output) earlier(j, i int, at time.Time) bool {
	p := o.pending[j]
	return !p.IsZero() && (p.Before(at) || p.Equal(at) && j < i)
}

// setPending records that reader i holds lines read at at (zero: none),
// and wakes a reader waiting on it. Called with mu held.
func (o *output) setPending(i int, at time.Time) {
	o.pending[i] = at
	o.turn.Broadcast()
}

// deliver numbers one line. Called with mu held.
func (o *output) deliver(s logline.Stream, text []byte, at time.Time) {
	if o.limits != nil && s == logline.Stderr {
		o.watch(text)
	}
	if o.err != nil {
		return
	}
	// Only a wall clock stepped back can make a time go back: keep times in
	// line order.
	if at.Before(o.last) {
		at = o.last
	}
	o.last = at
	o.n++
	o.err = o.sink.WriteLine(logline.Line{N: o.n, Stream: s, Time: at, Text: text})
}

// clockReader notes when each read returned. Every line that a read
// completes was read at that moment, and one clock reading per read (often
// a hundred lines) rather than per line saves a third of the CPU time the
// executor spends on output.
type clockReader struct {
	f  *os.File
	o  *output
	i  int // the stream's index
	at time.Time
}

func (c *clockReader) Read(p []byte) (int, error) {
	// Every line of the last read is delivered (bufio reads again only
	// then), except perhaps a partial one, which this read completes.
	c.o.mu.Lock()
	c.o.setPending(c.i, time.Time{})
	c.o.mu.Unlock()
	c.o.reading[c.i].Store(time.Now().UnixNano())
	n, err := c.f.Read(p)
	// Stamped under mu, so that no other reader can have compared its
	// lines with ours before our time exists.
	c.o.mu.Lock()
	c.at = time.Now()
	if n > 0 {
		c.o.setPending(c.i, c.at)
	}
	c.o.mu.Unlock()
	c.o.reading[c.i].Store(0)
	return n, err
}

// pipes gives cmd a fresh pipe for stdout and one for stderr. Plain pipes
// (rather than an io.Writer on cmd) let us read straight from the kernel and
// decide ourselves when to stop waiting for them.
func (o *output) pipes(cmd *exec.Cmd) error {
	for i := range o.r {
		r, w, err := os.Pipe()
		if err != nil {
			o.closeChildEnds()
			o.closeAll()
			return err
		}
		o.r[i], o.w[i] = r, w
		growPipe(r)
	}
	cmd.Stdout, cmd.Stderr = o.w[0], o.w[1]
	return nil
}

// pipeSize is the kernel buffer we ask for per pipe (the default is 64 KiB).
// A chatty step then blocks less often on a full pipe, and each of our reads
// takes more lines: about 20% less overhead on 200,000 lines. It stays well
// under the per-user soft limit (64 MiB) even with 100 steps running.
const pipeSize = 256 << 10

// growPipe asks for pipeSize; it is only an optimisation, so a refusal is
// ignored.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ, missing from package syscall
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize) })
	}
}

// closeChildEnds drops our copies of the write ends once the child has its
// own, so that EOF arrives when the step's processes are gone.
func (o *output) closeChildEnds() {
	for _, w := range o.w {
		if w != nil {
			w.Close()
		}
	}
}

func (o *output) closeAll() {
	for _, r := range o.r {
		if r != nil {
			r.Close()
		}
	}
}

func (o *output) start() {
	for i := range o.r {
		go o.read(i)
	}
}

// read splits one stream into lines until EOF or the read deadline.
func (o *output) read(i int) {
	c := &clockReader{f: o.r[i], o: o, i: i}
	br := readers.Get().(*bufio.Reader)
	br.Reset(c)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
		o.mu.Lock()
		o.setPending(i, time.Time{})
		o.mu.Unlock()
		o.ended[i].Store(true)
		o.done <- struct{}{}
	}()
	split := false // the previous piece was a full buffer without '\n'
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			o.emitRead(i, line, c.at)
			split = true
			continue
		case len(line) > 0 && line[len(line)-1] == '\n':
			// A line of exactly MaxLineBytes leaves only its '\n' for the
			// next read: that is its end, not an empty line.
			if !split || len(line) > 1 {
				o.emitRead(i, line[:len(line)-1], c.at)
			}
		case len(line) > 0:
			o.emitRead(i, line, c.at) // the last line had no '\n', or we stopped reading
		}
		split = false
		if err != nil {
			return
		}
	}
}

// idle is how long every reader still running has sat in its current
// read(2); 0 while one of them is handling lines. It is timed from the entry
// into read(2), not from the last byte read: a reader that spent longer than
// drainDelay delivering its last buffer to a slow sink, and then asks for the
// EOF that is already there, has not been idle at all. (Timing from the last
// byte cut exactly that drain once both cores were loaded.)
func (o *output) idle(now time.Time) time.Duration {
	idle := time.Duration(-1)
	for i := range o.reading {
		if o.ended[i].Load() {
			continue
		}
		since := o.reading[i].Load()
		if since == 0 {
			return 0
		}
		if d := now.Sub(time.Unix(0, since)); idle < 0 || d < idle {
			idle = d
		}
	}
	return max(idle, 0)
}

// finish waits for both readers, called once the step's processes are gone.
// Readers that still make progress are waited for however long they take;
// readers that have sat in read(2) for drainDelay with no byte arriving are
// cut off. It returns the sink's first error.
func (o *output) finish() error {
	t := time.NewTimer(drainDelay)
	defer t.Stop()
	for finished := 0; finished < 2; {
		select {
		case <-o.done:
			finished++
		case <-t.C:
			if o.cutOff {
				continue
			}
			if idle := o.idle(time.Now()); idle < drainDelay {
				// Still draining: a reader is busy with lines, or has
				// only just asked for more.
				t.Reset(max(drainDelay-idle, 10*time.Millisecond))
				continue
			}
			o.cutOff = true
			for _, r := range o.r {
				_ = r.SetReadDeadline(time.Now())
			}
		}
	}
	o.closeAll()
	if o.cutOff {
		o.emit(logline.Stderr, []byte(cutNote), time.Now())
	}
	return o.err
}

// What programs print when fork(2) fails with EAGAIN (bash, glibc's
// strerror) and when open(2) fails with EMFILE.
var (
	eagainText = []byte("Resource temporarily unavailable")
	emfileText = []byte("Too many open files")
)

// watch notes stderr messages that mean a rlimit was hit; called with o.mu.
func (o *output) watch(text []byte) {
	if !o.hit.procs && bytes.Contains(text, eagainText) {
		o.hit.procs = true
	}
	if !o.hit.files && bytes.Contains(text, emfileText) {
		o.hit.files = true
	}
}

// limitNotes ends the log of a failed sandboxed step with the rlimit it
// hit, if it looks like one did: the step's own messages ("fork: Resource
// temporarily unavailable", exit status 153 for SIGXFSZ) do not say that
// the limit was ours, nor what it is.
func (o *output) limitNotes(exitCode int) {
	if o.limits == nil || exitCode == 0 {
		return
	}
	const sigxfszStatus = 128 + 25
	var notes []string
	if exitCode == sigxfszStatus {
		notes = append(notes, fmt.Sprintf("runbook: the step hit its file size limit (RLIMIT_FSIZE, %d bytes): a process was killed by SIGXFSZ writing past it", o.limits.FileSize))
	}
	if o.hit.procs {
		notes = append(notes, fmt.Sprintf("runbook: the step hit its process limit (RLIMIT_NPROC, %d processes): fork failed with EAGAIN", o.limits.Processes))
	}
	if o.hit.files {
		notes = append(notes, fmt.Sprintf("runbook: the step hit its open files limit (RLIMIT_NOFILE, %d)", o.limits.OpenFiles))
	}
	for _, n := range notes {
		o.emit(logline.Stderr, []byte(n), time.Now())
	}
}
