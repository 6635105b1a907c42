// Package logline holds the unit of step output shared by executors, the
// log store and its readers: one numbered, timestamped line of one stream.
package logline

import "time"

// Stream tells stdout from stderr.
type Stream uint8

const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return "unknown"
}

// Line is one line of a step's output, without its trailing newline.
// N counts from 1 per step attempt, across both streams.
type Line struct {
	N      int64
	Stream Stream
	Time   time.Time
	Text   []byte
}
