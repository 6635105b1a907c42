package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/runbookhq/runbook/internal/logline"
)

// On-disk format of a log's data file (little endian throughout):
//
//	header:  magic "RBLOG1\n", uvarint len(run), run, uvarint len(step), step, uvarint attempt
//	record:  stream (1 byte) | unix nanos (8 bytes) | uvarint len | text | crc32c of the preceding bytes
//	trailer: a record with stream 0xFF whose 8-byte field holds the line count and whose text is empty
//
// Line numbers are implicit (the i-th record is line i), so a record costs
// 14 bytes plus the text. The CRC lets a reader tell a torn or zero-filled
// tail (after a crash) from data: the first invalid record ends the log.
//
// The index file holds one 8-byte offset per chunk of chunkLines lines: entry
// c is where line c*chunkLines+1 starts. It is written after the data it
// points to, so a reader can trust any entry that lies within the data.

const (
	magic         = "RBLOG1\n"
	chunkLines    = 1024
	streamTrailer = 0xFF
	recFixed      = 1 + 8 // stream + time
	recMax        = 1 + 8 + binary.MaxVarintLen64
	crcLen        = 4
	// MaxLineBytes bounds one line's text. Executors split longer lines; the
	// bound keeps a reader's buffer (and a corrupt length field) in check.
	MaxLineBytes = 8 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one framed record to b.
func appendRecord(b []byte, stream byte, v uint64, text []byte) []byte {
	start := len(b)
	b = append(b, stream)
	b = binary.LittleEndian.AppendUint64(b, v)
	b = binary.AppendUvarint(b, uint64(len(text)))
	b = append(b, text...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

func encodeHeader(k Key) []byte {
	b := []byte(magic)
	b = binary.AppendUvarint(b, uint64(len(k.Run)))
	b = append(b, k.Run...)
	b = binary.AppendUvarint(b, uint64(len(k.Step)))
	b = append(b, k.Step...)
	return binary.AppendVarint(b, int64(k.Attempt))
}

// record is one decoded record; text points into the cursor's buffer and is
// valid until the cursor's next call.
type record struct {
	stream byte
	v      uint64 // unix nanos, or the line count of a trailer
	text   []byte
}

// errTorn means the bytes at the cursor are not a valid record: a torn or
// zero-filled tail after a crash, or corruption.
var errTorn = errors.New("invalid record")

// cursor reads records sequentially from a data file that may still be
// growing. It keeps one reusable buffer, so following a log of any size
// needs memory only for the longest line.
type cursor struct {
	f    *os.File
	buf  []byte // file bytes [base, base+len(buf))
	base int64
	pos  int   // next record within buf
	line int64 // number of the record at pos
}

func newCursor(f *os.File, off, line int64) *cursor {
	return &cursor{f: f, buf: make([]byte, 0, 64<<10), base: off, line: line}
}

// off is the file offset of the next record.
func (c *cursor) off() int64 { return c.base + int64(c.pos) }

// fill makes at least n bytes available at pos, reading no further than
// limit. It reports false when the file holds fewer bytes than that.
func (c *cursor) fill(n int, limit int64) (bool, error) {
	if len(c.buf)-c.pos >= n {
		return true, nil
	}
	if c.off()+int64(n) > limit {
		return false, nil
	}
	// Slide the unread bytes to the front, growing only for huge lines.
	rest := copy(c.buf[:cap(c.buf)], c.buf[c.pos:])
	c.base += int64(c.pos)
	c.pos = 0
	if n > cap(c.buf) {
		nb := make([]byte, rest, n+4096)
		copy(nb, c.buf[:rest])
		c.buf = nb
	}
	want := min(int64(cap(c.buf)), limit-c.base)
	c.buf = c.buf[:want]
	got, err := c.f.ReadAt(c.buf[rest:want], c.base+int64(rest))
	c.buf = c.buf[:rest+got]
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("logstore: read %s: %w", c.f.Name(), err)
	}
	return len(c.buf) >= n, nil
}

// next decodes the record at the cursor if it lies entirely before limit.
// It returns ok=false when the record is not (yet) complete, and errTorn
// when the bytes there cannot be a record.
func (c *cursor) next(limit int64) (r record, ok bool, err error) {
	if ok, err := c.fill(recFixed+1, limit); !ok || err != nil {
		return r, false, err
	}
	// The length varint may be short; ask for what exists up to recMax.
	if _, err := c.fill(min(recMax, int(limit-c.off())), limit); err != nil {
		return r, false, err
	}
	b := c.buf[c.pos:]
	r.stream = b[0]
	if r.stream != byte(logline.Stdout) && r.stream != byte(logline.Stderr) && r.stream != streamTrailer {
		return r, false, errTorn
	}
	r.v = binary.LittleEndian.Uint64(b[1:recFixed])
	n, w := binary.Uvarint(b[recFixed:])
	if w <= 0 {
		if w == 0 && c.off()+int64(len(b)) >= limit {
			return r, false, nil // varint cut off by the limit
		}
		return r, false, errTorn
	}
	if n > MaxLineBytes {
		return r, false, errTorn
	}
	size := recFixed + w + int(n) + crcLen
	if ok, err := c.fill(size, limit); !ok || err != nil {
		return r, false, err
	}
	b = c.buf[c.pos : c.pos+size]
	if crc32.Checksum(b[:size-crcLen], crcTable) != binary.LittleEndian.Uint32(b[size-crcLen:]) {
		return r, false, errTorn
	}
	r.text = b[recFixed+w : size-crcLen]
	c.pos += size
	if r.stream != streamTrailer {
		c.line++
	}
	return r, true, nil
}

// readHeader checks that f's header names k and returns where records start.
func readHeader(f *os.File, k Key) (int64, error) {
	want := encodeHeader(k)
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, 0); err != nil {
		return 0, fmt.Errorf("logstore: %s: header unreadable (file damaged?): %w", f.Name(), err)
	}
	if string(got) != string(want) {
		return 0, fmt.Errorf("logstore: %s does not hold the log of %s (file damaged or misplaced)", f.Name(), k)
	}
	return int64(len(want)), nil
}
