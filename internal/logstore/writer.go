package logstore

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

const (
	// flushAt is the buffer size that triggers a write: a 200,000-line burst
	// becomes ~150 write calls instead of 200,000.
	flushAt = 128 << 10
	// flushDelay bounds how long a line waits in the buffer when the writer
	// goes idle, and so a follower's latency. Followers read only flushed
	// bytes: that keeps one read path (the file) for live and finished logs.
	flushDelay = 10 * time.Millisecond
)

// Writer appends the lines of one log. It is safe for one goroutine calling
// WriteLine while followers read; WriteLine and Close must not race.
//
// Files are not fsynced: a machine crash may lose the last lines, and readers
// then see the log end at its last valid record.
type Writer struct {
	s        *Store
	k        Key
	data     *os.File
	idxPath  string
	index    *os.File // created with the second chunk: most logs never need one
	timer    *time.Timer
	mu       sync.Mutex
	buf      []byte // unflushed records
	idx      []byte // unflushed index entries
	off      int64  // data bytes flushed
	lines    int64  // lines appended (flushed or not)
	armed    bool   // the flush timer is pending
	closed   bool
	err      error // first write error; sticky
	pubLines int64 // lines flushed
	flushes  int   // write calls made, for tests and benchmarks
	changed  chan struct{}
}

func newWriter(s *Store, k Key, data, index string) (*Writer, error) {
	df, err := os.OpenFile(data, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if os.IsExist(err) {
		return nil, fmt.Errorf("%w: %s", ErrExists, k)
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: create log of %s: %w", k, err)
	}
	w := &Writer{s: s, k: k, data: df, idxPath: index, changed: make(chan struct{}),
		buf: make([]byte, 0, flushAt+4096)}
	w.buf = append(w.buf, encodeHeader(k)...)
	w.timer = time.AfterFunc(time.Hour, w.timerFlush)
	w.timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flush(); err != nil { // the header, so readers can open the file
		w.data.Close()
		return nil, err
	}
	return w, nil
}

// WriteLine appends l; l.N must be one more than the previous line's.
func (w *Writer) WriteLine(l logline.Line) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return ErrClosed
	case w.err != nil:
		return w.err
	case l.N != w.lines+1:
		return fmt.Errorf("logstore: log of %s: got line %d after line %d; number lines consecutively from 1", w.k, l.N, w.lines)
	case l.Stream != logline.Stdout && l.Stream != logline.Stderr:
		return fmt.Errorf("logstore: log of %s: line %d has stream %d; want stdout (1) or stderr (2)", w.k, l.N, l.Stream)
	case len(l.Text) > MaxLineBytes:
		return fmt.Errorf("logstore: log of %s: line %d is %d bytes; split lines longer than %d", w.k, l.N, len(l.Text), MaxLineBytes)
	}
	if w.lines%chunkLines == 0 {
		w.idx = binary.LittleEndian.AppendUint64(w.idx, uint64(w.off+int64(len(w.buf))))
	}
	w.buf = appendRecord(w.buf, byte(l.Stream), uint64(l.Time.UnixNano()), l.Text)
	w.lines++
	if len(w.buf) >= flushAt {
		return w.flush()
	}
	if !w.armed {
		w.armed = true
		w.timer.Reset(flushDelay)
	}
	return nil
}

func (w *Writer) timerFlush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && w.err == nil {
		w.flush() // an error is kept in w.err and returned by the next call
	}
}

// flush writes the buffer, then the index entries that point into it, then
// tells followers. Called with w.mu held.
func (w *Writer) flush() error {
	w.armed = false
	if len(w.buf) == 0 {
		return nil
	}
	w.flushes++
	n, err := w.data.Write(w.buf)
	w.off += int64(n)
	if err == nil {
		err = w.flushIndex()
	}
	if err != nil {
		w.err = fmt.Errorf("logstore: write log of %s: %w", w.k, err)
		return w.err
	}
	w.buf = w.buf[:0]
	w.pubLines = w.lines
	close(w.changed)
	w.changed = make(chan struct{})
	return nil
}

// flushIndex writes the pending index entries. A log of one chunk keeps
// its single entry (the header's end, which readers know anyway) in memory:
// file creation costs up to milliseconds here, and most steps print little.
func (w *Writer) flushIndex() error {
	if len(w.idx) == 0 || (w.index == nil && len(w.idx) == 8) {
		return nil
	}
	if w.index == nil {
		f, err := os.OpenFile(w.idxPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		w.index = f
	}
	_, err := w.index.Write(w.idx)
	w.idx = w.idx[:0]
	return err
}

// published is what followers may read: the flushed bytes and lines, whether
// the log is finished, and a channel closed at the next change.
func (w *Writer) published() (size, lines int64, done bool, changed <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.off, w.pubLines, w.closed, w.changed
}

// Close flushes and marks the log complete; followers then finish. Calling
// it again returns nil. After a write error the log stays without its
// trailer (readers treat it as cut short) and Close returns the error.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.timer.Stop()
	err := w.err
	if err == nil {
		w.buf = appendRecord(w.buf, streamTrailer, uint64(w.lines), nil)
		err = w.flush()
	}
	w.closed = true
	close(w.changed)
	w.changed = make(chan struct{})
	if cerr := w.data.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("logstore: close log of %s: %w", w.k, cerr)
	}
	if w.index != nil {
		w.index.Close()
	}
	w.mu.Unlock()

	w.s.mu.Lock()
	delete(w.s.writers, w.k)
	w.s.mu.Unlock()
	return err
}
