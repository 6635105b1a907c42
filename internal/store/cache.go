package store

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/runbookhq/runbook/internal/engine"
	"github.com/runbookhq/runbook/internal/workflow"
)

// RunCache keeps, for recently applied runs, the parsed workflow and the
// decoded state as of a sequence number, so Apply neither re-parses the
// stored source nor re-decodes the stored state on every event. Entries are
// keyed by the run's last_seq, read under the run's lock: a state cached
// for an older seq (another process applied since) is never used. The
// least recently used run is dropped when the cache is full.
type RunCache struct {
	mu   sync.Mutex
	size int
	ll   *list.List // front: most recently used; values are *cacheEntry
	m    map[int64]*list.Element
}

type cacheEntry struct {
	runID     int64
	wf        *workflow.Workflow
	seq       int64
	state     engine.State // valid when stateJSON != nil
	stateJSON []byte
}

// Stored is what a driver reads for a run whose cached state is missing or
// stale. Source and File are needed only when asked for.
type Stored struct {
	File      string
	Source    []byte
	StateJSON []byte
}

// NewRunCache returns a cache holding at most size runs (at least 1).
func NewRunCache(size int) *RunCache {
	return &RunCache{size: max(size, 1), ll: list.New(), m: map[int64]*list.Element{}}
}

// Put records the run's workflow and its state as of seq (after a commit).
func (c *RunCache) Put(runID, seq int64, wf *workflow.Workflow, st engine.State, stateJSON []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{runID: runID, wf: wf, seq: seq, state: st, stateJSON: stateJSON}
	if el, ok := c.m[runID]; ok {
		if old := el.Value.(*cacheEntry); old.seq > seq && old.stateJSON != nil {
			e = old // a newer state was put meanwhile: keep it
		}
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[runID] = c.ll.PushFront(e)
	if c.ll.Len() > c.size {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).runID)
	}
}

// State returns the run's state as of seq and its JSON, from the cache when
// it holds that seq, else from what load returns (load is told whether it
// must read the source too).
func (c *RunCache) State(runID, seq int64, load func(withSource bool) (Stored, error)) (engine.State, []byte, error) {
	c.mu.Lock()
	var wf *workflow.Workflow
	if el, ok := c.m[runID]; ok {
		e := el.Value.(*cacheEntry)
		c.ll.MoveToFront(el)
		if e.seq == seq && e.stateJSON != nil {
			c.mu.Unlock()
			return e.state, e.stateJSON, nil
		}
		wf = e.wf
	}
	c.mu.Unlock()
	st, err := load(wf == nil)
	if err != nil {
		return engine.State{}, nil, err
	}
	if wf == nil {
		if wf, err = workflow.Parse(st.File, st.Source); err != nil {
			// It parsed when the run was created: the parser has become stricter.
			return engine.State{}, nil, fmt.Errorf("store: run %d: its stored workflow no longer parses with this version of runbook (a newer parser is stricter?): %w", runID, err)
		}
	}
	state, err := engine.Restore(wf, st.StateJSON)
	if err != nil {
		return engine.State{}, nil, fmt.Errorf("store: run %d: %w", runID, err)
	}
	c.Put(runID, seq, wf, state, st.StateJSON)
	return state, st.StateJSON, nil
}
