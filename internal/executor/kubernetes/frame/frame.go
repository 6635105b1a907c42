// Package frame is the wire format between `runbook step-exec`, the
// entrypoint of a step's container, and the Kubernetes executor that reads
// the container's log through the API.
//
// The log API merges stdout and stderr (and under some runtimes cannot give
// them apart at all), so step-exec writes every output line of the command to
// its own stdout as one record:
//
//	KIND SEQ ' ' TEXT '\n'
//
// KIND is 'O' (stdout), 'E' (stderr) or 'X' (the command's exit code as
// TEXT, written last); SEQ is the record's decimal sequence number, from 1.
// TEXT never holds '\n': a line is split on it, and a line longer than
// MaxText arrives as several records of at most MaxText bytes, as with the
// local executor. A last line without a trailing newline is a record like any
// other. Records stay human-readable in `kubectl logs`.
//
// The sequence number lets a reader that lost its log stream open it again
// from the start and skip what it already delivered, and the exit record lets
// it stop draining at once. A log line that is not a record (a runtime error
// printed before step-exec started, say) is passed on as stderr.
package frame

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"sync"
)

// MaxText is the longest TEXT of one record; it matches the local
// executor's line limit.
const MaxText = 64 << 10

// MaxRecord is the longest record, '\n' included.
const MaxRecord = MaxText + 1 + 20 + 1 + 1

// Record kinds.
const (
	Stdout byte = 'O'
	Stderr byte = 'E'
	Exit   byte = 'X'
)

// Append appends one record to dst. text must not hold '\n'.
func Append(dst []byte, kind byte, seq uint64, text []byte) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	dst = append(dst, text...)
	return append(dst, '\n')
}

// Parse splits a record (without its '\n'). ok is false when line is not a
// record. text aliases line.
func Parse(line []byte) (kind byte, seq uint64, text []byte, ok bool) {
	if len(line) < 3 {
		return 0, 0, nil, false
	}
	switch line[0] {
	case Stdout, Stderr, Exit:
	default:
		return 0, 0, nil, false
	}
	i := 1
	for i < len(line) && i <= 21 && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(line) || line[i] != ' ' || (line[1] == '0' && i > 2) {
		return 0, 0, nil, false
	}
	seq, err := strconv.ParseUint(string(line[1:i]), 10, 64)
	if err != nil || seq == 0 {
		return 0, 0, nil, false
	}
	return line[0], seq, line[i+1:], true
}

// ExitCode reads the TEXT of an exit record.
func ExitCode(text []byte) (int, bool) {
	n, err := strconv.Atoi(string(text))
	return n, err == nil
}

// Lines reads r and calls emit with each line, without its '\n', in pieces
// of at most size bytes: a longer line arrives as several consecutive pieces
// and no byte is lost. A last line without '\n' is emitted too. after, if
// set, is called once per read whose lines have all been emitted when no
// more input is buffered (a moment to flush). line aliases the read buffer.
// Lines returns nil at EOF, or the read error.
func Lines(r io.Reader, size int, emit func(line []byte), idle func()) error {
	br := bufio.NewReaderSize(r, size)
	split := false // the previous piece was a full buffer without '\n'
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			emit(line)
			split = true
			continue
		case len(line) > 0 && line[len(line)-1] == '\n':
			// A line of exactly size bytes leaves only its '\n' for the next
			// read: that is its end, not an empty line.
			if !split || len(line) > 1 {
				emit(line[:len(line)-1])
			}
		case len(line) > 0:
			emit(line)
		}
		split = false
		if idle != nil && br.Buffered() == 0 {
			idle()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Writer writes records with consecutive sequence numbers. It is safe for
// concurrent use; records are buffered until Flush.
type Writer struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	seq uint64
	buf []byte
	err error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10)}
}

// Write buffers one record. text must not hold '\n'; callers split lines
// with Lines. The first error sticks.
func (w *Writer) Write(kind byte, text []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.seq++
	w.buf = Append(w.buf[:0], kind, w.seq, text)
	_, w.err = w.bw.Write(w.buf)
	return w.err
}

// Flush writes out the buffered records.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}
