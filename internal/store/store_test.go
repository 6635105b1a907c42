package store

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/workflow"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 62} {
		got, err := DecodeCursor(EncodeCursor(id))
		if err != nil || got != id {
			t.Errorf("DecodeCursor(EncodeCursor(%d)) = %d, %v", id, got, err)
		}
	}
	if got, err := DecodeCursor(""); got != 0 || err != nil {
		t.Errorf(`DecodeCursor("") = %d, %v; want the first page`, got, err)
	}
	for _, bad := range []string{"42", "!!", EncodeCursor(0), EncodeCursor(-5)} {
		if _, err := DecodeCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeCursor(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRunCache(t *testing.T) {
	src := []byte("steps:\n  - name: a\n    command: \"true\"\n")
	loads := map[int64]int{}
	c := NewRunCache(2)
	state := func(runID, seq int64) engine.State {
		t.Helper()
		st, _, err := c.State(runID, seq, func(withSource bool) (Stored, error) {
			loads[runID]++
			wf, err := workflow.Parse("f", src)
			if err != nil {
				return Stored{}, err
			}
			js, err := json.Marshal(engine.New(wf, workflow.Vars{}))
			if err != nil {
				return Stored{}, err
			}
			s := Stored{StateJSON: js}
			if withSource {
				s.File, s.Source = "f", src
			}
			return s, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := state(1, 0); st.Workflow == nil || st.Steps[0].Name != "a" {
		t.Fatalf("restored state %+v: want the workflow attached", st)
	}
	state(1, 0)
	if loads[1] != 1 {
		t.Fatalf("same seq loaded %d times, want once", loads[1])
	}
	state(1, 3) // another process applied events: reload
	if loads[1] != 2 {
		t.Fatalf("after a newer seq, loads = %d, want 2", loads[1])
	}
	state(2, 0)
	state(3, 0) // evicts run 1, the least recently used
	state(1, 3)
	if loads[1] != 3 {
		t.Fatalf("evicted run loads = %d, want 3", loads[1])
	}
}
