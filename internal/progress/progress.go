// Package progress prints a run as it happens in a terminal: a line when a
// step starts and ends, every output line prefixed with its step's name, and
// a summary table at the end. Colours only when asked (a TTY).
package progress

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/logline"
)

// flushEvery bounds how long printed output may sit in the buffer; it keeps
// a step that prints 200,000 lines from costing one write(2) per line.
const flushEvery = 25 * time.Millisecond

// Printer implements runner.Observer for a terminal or a pipe.
type Printer struct {
	mu      sync.Mutex
	out     *bufio.Writer
	color   bool
	width   int               // of the step-name column
	colors  map[string]string // step name → ANSI colour
	names   map[string]string // step name → padded, painted column
	dirty   bool
	stop    chan struct{}
	stopped sync.WaitGroup
	state   engine.State // set by RunFinished
}

var palette = []string{"36", "35", "33", "34", "32", "96", "95", "93", "94", "92"}

const maxNameWidth = 24

// New returns a Printer for a run of the named steps. Close it when done.
func New(w io.Writer, color bool, steps []string) *Printer {
	p := &Printer{
		out:    bufio.NewWriterSize(w, 64<<10),
		color:  color,
		colors: make(map[string]string, len(steps)),
		names:  make(map[string]string, len(steps)),
		stop:   make(chan struct{}),
	}
	for i, name := range steps {
		p.colors[name] = palette[i%len(palette)]
		if n := len([]rune(name)); n > p.width {
			p.width = min(n, maxNameWidth)
		}
	}
	for _, name := range steps {
		p.names[name] = p.column(name)
	}
	p.stopped.Add(1)
	go p.flusher()
	return p
}

func (p *Printer) flusher() {
	defer p.stopped.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.dirty {
				p.out.Flush()
				p.dirty = false
			}
			p.mu.Unlock()
		}
	}
}

// Close stops the background flusher and flushes what is left.
func (p *Printer) Close() error {
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Flush()
}

func (p *Printer) paint(code, s string) string {
	if !p.color || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// column is the step's name padded (or cut) to the name column, painted.
func (p *Printer) column(step string) string {
	shown := step
	if r := []rune(step); len(r) > p.width {
		shown = string(r[:p.width-1]) + "…"
	}
	return p.paint(p.colors[step], fmt.Sprintf("%-*s", p.width, shown))
}

// Line prints one output line as "step | text" (stdout) or "step ! text"
// (stderr), so the two stay apart even in a piped log.
func (p *Printer) Line(step string, _ int, l logline.Line) {
	sep := " | "
	if l.Stream == logline.Stderr {
		sep = p.paint("31", " ! ")
	}
	p.mu.Lock()
	p.out.WriteString(p.names[step])
	p.out.WriteString(sep)
	p.out.Write(l.Text)
	p.out.WriteByte('\n')
	p.dirty = true
	p.mu.Unlock()
}

// StepChanged prints a status line for starts and ends.
func (p *Printer) StepChanged(s engine.StepState) {
	var line string
	switch s.Status {
	case engine.StepRunning:
		line = p.paint("1", "▶ ") + s.Name + " started"
		if s.Attempt > 1 {
			line += fmt.Sprintf(" (attempt %d)", s.Attempt)
		}
	case engine.StepRetrying:
		line = p.paint("33", "↻ ") + s.Name + " " + s.Reason // the engine's reason says which attempt failed and when the next starts
	case engine.StepSucceeded:
		line = p.paint("32", "✓ ") + s.Name + " succeeded in " + FormatDuration(stepDuration(s))
	case engine.StepFailed:
		line = p.paint("31", "✗ ") + s.Name + " failed in " + FormatDuration(stepDuration(s)) + suffix(s.Reason)
	case engine.StepSkipped:
		line = p.paint("90", "○ ") + s.Name + " skipped" + suffix(s.Reason)
	case engine.StepCancelled:
		line = p.paint("90", "⊘ ") + s.Name + " cancelled" + suffix(s.Reason)
	default:
		return
	}
	p.mu.Lock()
	p.out.WriteString(line)
	p.out.WriteByte('\n')
	p.out.Flush()
	p.dirty = false
	p.mu.Unlock()
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func stepDuration(s engine.StepState) time.Duration {
	if s.StartedAt.IsZero() || s.FinishedAt.Before(s.StartedAt) {
		return 0
	}
	return s.FinishedAt.Sub(s.StartedAt)
}

// RunFinished prints the summary table and the run's outcome.
func (p *Printer) RunFinished(s engine.State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = s
	p.out.WriteByte('\n')
	tw := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tATTEMPTS\tDURATION\t")
	for _, st := range s.Steps {
		dur := "-"
		if !st.StartedAt.IsZero() {
			dur = FormatDuration(stepDuration(st))
		}
		attempts := "-"
		if st.Attempt > 0 {
			attempts = fmt.Sprint(st.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", st.Name, st.Status, attempts, dur)
	}
	tw.Flush()
	outcome := fmt.Sprintf("run %s in %s", s.Status, FormatDuration(s.FinishedAt.Sub(s.StartedAt)))
	if s.Reason != "" {
		outcome += ": " + s.Reason
	}
	code := map[engine.RunStatus]string{engine.RunSucceeded: "32", engine.RunFailed: "31", engine.RunCancelled: "33"}[s.Status]
	p.out.WriteString(p.paint(code, outcome))
	p.out.WriteByte('\n')
	p.out.Flush()
	p.dirty = false
}

// FormatDuration prints durations the way people read them: 850ms, 1.2s, 3m04s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
