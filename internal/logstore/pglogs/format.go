package pglogs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

// A chunk's data is a sequence of records; line numbers are implicit, from
// the chunk's first_line on. Times are zigzag varints of the difference to
// the previous record's (the first record's is to zero), so a burst of
// lines pays a byte or two per timestamp instead of eight.
//
//	line: stream (1 or 2) | varint Δt | uvarint len | text
//	gap:  0               | varint Δt | uvarint count
//
// A gap stands for count lines that were dropped (the buffer budget ran out
// while Postgres was unreachable); readers see one stderr line saying so,
// numbered as the first dropped line.
const streamGap = 0

type encoder struct {
	buf  []byte
	prev int64
}

func (e *encoder) line(l logline.Line) {
	t := l.Time.UnixNano()
	e.buf = append(e.buf, byte(l.Stream))
	e.buf = binary.AppendVarint(e.buf, t-e.prev)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(l.Text)))
	e.buf = append(e.buf, l.Text...)
	e.prev = t
}

func (e *encoder) gap(count int64, at time.Time) {
	t := at.UnixNano()
	e.buf = append(e.buf, streamGap)
	e.buf = binary.AppendVarint(e.buf, t-e.prev)
	e.buf = binary.AppendUvarint(e.buf, uint64(count))
	e.prev = t
}

var errCorrupt = errors.New("corrupt chunk")

// gapText is the line a reader sees in place of dropped lines.
func gapText(first, count int64) []byte {
	return fmt.Appendf(nil, "runbook: %d log lines (%d to %d) were dropped from the shared log store: "+
		"Postgres was unreachable and the process's log buffer was full", count, first, first+count-1)
}

// decode calls fn for the lines of a chunk numbered from first on, from
// line number from. Texts point into data.
func decode(data []byte, first, from int64, fn func(logline.Line) error) error {
	n, prev := first, int64(0)
	for len(data) > 0 {
		stream := data[0]
		dt, w := binary.Varint(data[1:])
		if w <= 0 {
			return errCorrupt
		}
		data = data[1+w:]
		v, w := binary.Uvarint(data)
		if w <= 0 {
			return errCorrupt
		}
		data = data[w:]
		prev += dt
		switch stream {
		case streamGap:
			if n >= from || n+int64(v) > from {
				l := logline.Line{N: max(n, from), Stream: logline.Stderr, Time: time.Unix(0, prev), Text: gapText(n, int64(v))}
				if err := fn(l); err != nil {
					return err
				}
			}
			n += int64(v)
		case byte(logline.Stdout), byte(logline.Stderr):
			if v > uint64(len(data)) {
				return errCorrupt
			}
			if n >= from {
				if err := fn(logline.Line{N: n, Stream: logline.Stream(stream), Time: time.Unix(0, prev), Text: data[:v:v]}); err != nil {
					return err
				}
			}
			data = data[v:]
			n++
		default:
			return errCorrupt
		}
	}
	return nil
}
