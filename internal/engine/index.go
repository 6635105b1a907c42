package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runbookhq/runbook/internal/workflow"
)

// index is the DAG of a workflow by step position, computed once so that an
// event costs time in the size of its step's neighbourhood, not the workflow.
type index struct {
	byName     map[string]int
	deps       [][]int // deps[i]: the steps i depends on
	dependents [][]int // dependents[i]: the steps that depend on i, ascending
	err        error   // why the workflow cannot be run; Decide reports it
}

func newIndex(wf *workflow.Workflow) *index {
	n := len(wf.Steps)
	ix := &index{byName: make(map[string]int, n), deps: make([][]int, n), dependents: make([][]int, n)}
	var problems []string
	for i, st := range wf.Steps {
		if _, dup := ix.byName[st.Name]; dup {
			problems = append(problems, fmt.Sprintf("step name %q is used twice", st.Name))
			continue
		}
		ix.byName[st.Name] = i
	}
	for i, st := range wf.Steps {
		for _, dep := range st.DependsOn {
			j, ok := ix.byName[dep]
			if !ok {
				problems = append(problems, fmt.Sprintf("step %q depends on %q, which does not exist", st.Name, dep))
				continue
			}
			if slices.Contains(ix.deps[i], j) {
				continue // a repeated depends_on entry adds nothing
			}
			ix.deps[i] = append(ix.deps[i], j)
			ix.dependents[j] = append(ix.dependents[j], i)
		}
	}
	if len(problems) == 0 {
		if cyc := ix.cycleSteps(wf); len(cyc) > 0 {
			problems = append(problems, "steps "+strings.Join(cyc, ", ")+" are on, or wait behind, a dependency cycle")
		}
	}
	if len(problems) > 0 {
		ix.err = errors.New("engine: workflow " + wf.File + " cannot run (validate it first): " + strings.Join(problems, "; "))
	}
	return ix
}

// cycleSteps returns the names of the steps Kahn's algorithm cannot order:
// those on or behind a cycle. Such steps would wait forever.
func (ix *index) cycleSteps(wf *workflow.Workflow) []string {
	indeg := make([]int, len(ix.deps))
	var ready []int
	for i := range ix.deps {
		indeg[i] = len(ix.deps[i])
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		i := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		for _, j := range ix.dependents[i] {
			if indeg[j]--; indeg[j] == 0 {
				ready = append(ready, j)
			}
		}
	}
	var stuck []string
	for i, d := range indeg {
		if d > 0 {
			stuck = append(stuck, fmt.Sprintf("%q", wf.Steps[i].Name))
		}
	}
	return stuck
}

// index returns s's index, rebuilding it for a State that lacks one (built
// by hand or decoded without Restore).
func (s *State) index() (*index, error) {
	if s.Workflow == nil {
		return nil, errors.New("engine: run state has no workflow attached (a state loaded from storage needs engine.Restore)")
	}
	if len(s.Steps) != len(s.Workflow.Steps) {
		return nil, fmt.Errorf("engine: run state has %d steps but its workflow has %d", len(s.Steps), len(s.Workflow.Steps))
	}
	ix := s.idx
	if ix == nil {
		ix = newIndex(s.Workflow)
	}
	return ix, ix.err
}
