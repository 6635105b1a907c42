package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/runbookhq/runbook/internal/logline"
	"github.com/runbookhq/runbook/internal/logstore"
)

func openLogStore(t *testing.T) *logstore.Store {
	t.Helper()
	s, err := logstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeLog(t *testing.T, s *logstore.Store, k logstore.Key, texts ...string) {
	t.Helper()
	w, err := s.Create(k)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		if err := w.WriteLine(logline.Line{N: int64(i + 1), Stream: logline.Stdout, Time: time.Now(), Text: []byte(text)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Each log is read where it is: the local store first, the shared one for
// the rest; a log in neither is not found, and following it waits for it
// in the shared store.
func TestLayeredLogs(t *testing.T) {
	local, shared := openLogStore(t), openLogStore(t)
	l := LayeredLogs{Local: local, Shared: shared}
	here, there, nowhere, later := logstore.RunKey(1, "a", 1), logstore.RunKey(1, "b", 1), logstore.RunKey(1, "c", 1), logstore.RunKey(2, "a", 1)
	writeLog(t, local, here, "local 1", "local 2")
	writeLog(t, shared, here, "stale copy")
	writeLog(t, shared, there, "shared 1", "shared 2", "shared 3")

	texts := func(ls []logline.Line) (out []string) {
		for _, x := range ls {
			out = append(out, string(x.Text))
		}
		return out
	}
	if got, err := l.Read(here, 2, 10); err != nil || len(got) != 1 || texts(got)[0] != "local 2" {
		t.Errorf("Read(here) = %q, %v; want the local line 2", texts(got), err)
	}
	if got, err := l.Read(there, 2, 1); err != nil || len(got) != 1 || texts(got)[0] != "shared 2" {
		t.Errorf("Read(there) = %q, %v; want the shared line 2", texts(got), err)
	}
	if info, err := l.Stat(there); err != nil || info.Lines != 3 || !info.Complete {
		t.Errorf("Stat(there) = %+v, %v", info, err)
	}
	if info, err := l.Stat(here); err != nil || info.Lines != 2 {
		t.Errorf("Stat(here) = %+v, %v; want the local 2 lines", info, err)
	}
	if _, err := l.Read(nowhere, 1, 10); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Read(nowhere) err = %v", err)
	}
	if _, err := l.Stat(nowhere); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("Stat(nowhere) err = %v", err)
	}

	var got []string
	collect := func(x logline.Line) error { got = append(got, string(x.Text)); return nil }
	if err := l.Follow(context.Background(), here, 1, collect); err != nil || len(got) != 2 || got[0] != "local 1" {
		t.Errorf("Follow(here) = %q, %v", got, err)
	}
	got = nil
	done := make(chan error, 1)
	go func() { done <- l.Follow(context.Background(), later, 1, collect) }()
	writeLog(t, shared, later, "late")
	select {
	case err := <-done:
		if err != nil || len(got) != 1 || got[0] != "late" {
			t.Errorf("Follow(later) = %q, %v", got, err)
		}
	case <-time.After(time.Minute): // a hang guard, sized for a loaded machine
		t.Fatal("Follow of a log not created yet did not see it appear in the shared store")
	}
}
