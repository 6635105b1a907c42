package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
)

// errStop ends a scan early without being an error.
var errStop = errors.New("stop")

// reader scans one log from a chunk boundary on.
type reader struct {
	k     Key
	live  bool
	cur   *cursor
	limit int64 // bytes of the data file that may be read
	lines int64 // lines known to exist (live logs only)
	done  bool  // the live writer has closed

	ended   bool // no record can follow: trailer or invalid tail seen
	trailer bool // the log was closed cleanly
}

// openReader opens k's data file positioned at the chunk holding line from,
// or at the last indexed chunk before it.
func openReader(k Key, src source, from int64) (*reader, error) {
	f, err := os.Open(src.data)
	if err != nil {
		return nil, fmt.Errorf("logstore: open log of %s: %w", k, err)
	}
	hdr, err := readHeader(f, k)
	if err != nil {
		f.Close()
		return nil, err
	}
	r := &reader{k: k, live: src.w != nil}
	if r.live {
		r.limit, r.lines, r.done, _ = src.w.published()
	} else {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("logstore: %s: %w", k, err)
		}
		r.limit = fi.Size()
	}
	off, line := seekIndex(src.index, (from-1)/chunkLines, hdr, r.limit)
	r.cur = newCursor(f, off, line)
	return r, nil
}

// seekIndex returns the offset and number of the first line of the last
// usable chunk at or before chunk. Entries past the readable data (an index
// written ahead of a crash) or a missing index fall back to the start.
func seekIndex(path string, chunk, hdr, limit int64) (int64, int64) {
	f, err := os.Open(path)
	if err != nil {
		return hdr, 1
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return hdr, 1
	}
	var b [8]byte
	for c := min(chunk, fi.Size()/8-1); c > 0; c-- {
		if _, err := f.ReadAt(b[:], c*8); err != nil && !errors.Is(err, io.EOF) {
			break
		}
		if off := int64(binary.LittleEndian.Uint64(b[:])); off >= hdr && off <= limit {
			return off, c*chunkLines + 1
		}
	}
	return hdr, 1
}

func (r *reader) close() { r.cur.f.Close() }

// scan calls fn for every record from the cursor up to r.limit whose line
// number is at least from. On a finished log an invalid record is the torn
// tail of a crash and ends the log; on a live one it is corruption.
func (r *reader) scan(from int64, fn func(logline.Line) error) error {
	for !r.ended {
		rec, ok, err := r.cur.next(r.limit)
		if errors.Is(err, errTorn) && !r.live {
			r.ended = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("logstore: log of %s is damaged at byte %d: %w", r.k, r.cur.off(), err)
		}
		if !ok {
			r.ended = !r.live
			return nil
		}
		if rec.stream == streamTrailer {
			r.ended, r.trailer = true, true
			return nil
		}
		n := r.cur.line - 1
		if n < from {
			continue
		}
		l := logline.Line{N: n, Stream: logline.Stream(rec.stream), Time: time.Unix(0, int64(rec.v)), Text: rec.text}
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}
