package mask

import (
	"github.com/runbookhq/runbook/internal/executor"
	"github.com/runbookhq/runbook/internal/logline"
)

// Sink masks each line before inner sees it. Lines reach a sink one at a
// time (the executor contract), so one buffer serves every masked line.
//
// Limit: an executor cuts a very long line into pieces (64 KiB for the local
// executor) and each piece is masked alone, so a secret straddling two
// pieces of one line is not masked. Holding pieces back to join them would
// delay live output; secrets sit in short lines in practice.
func Sink(inner executor.Sink, m *Masker) executor.Sink {
	if m.Empty() {
		return inner
	}
	return &sink{inner: inner, m: m}
}

type sink struct {
	inner executor.Sink
	m     *Masker
	buf   []byte
}

func (s *sink) WriteLine(l logline.Line) error {
	if out, ok := s.m.Append(s.buf[:0], l.Text); ok {
		s.buf, l.Text = out, out
	}
	return s.inner.WriteLine(l)
}
