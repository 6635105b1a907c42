package workflow

import (
	"fmt"
	"strings"
)

// checkGraph checks what involves several steps: unique names, existing
// dependencies, cycles, and that an `if` only reads the status of steps
// that are sure to have finished (its ancestors).
func checkGraph(wf *Workflow, meta []stepMeta, errs *errorSink) {
	byName := map[string]int{}
	var names []string
	allNamed := true
	for i, s := range wf.Steps {
		if !meta[i].named {
			allNamed = false
			continue
		}
		if first, dup := byName[s.Name]; dup {
			errs.addAt(meta[i].nameAt, "step name %q is already used by the step at line %d: step names must be unique", s.Name, wf.Steps[first].Pos.Line)
			continue
		}
		byName[s.Name] = i
		names = append(names, s.Name)
	}

	deps := make([][]int, len(wf.Steps)) // valid edges: step -> dependency
	depAt := make([][]Pos, len(wf.Steps))
	for i, s := range wf.Steps {
		if !meta[i].named {
			continue
		}
		seen := map[string]bool{}
		for j, dep := range s.DependsOn {
			at := meta[i].depsAt[j]
			k, ok := byName[dep]
			switch {
			case dep == s.Name:
				errs.addAt(at, "step %q depends on itself: remove %q from its depends_on", s.Name, dep)
			case seen[dep]:
				errs.addAt(at, "step %q lists %q twice in depends_on: remove one", s.Name, dep)
			case !ok:
				// A step whose name could not be read may be the one meant.
				if allNamed && !errs.full() {
					errs.addAt(at, "step %q depends on %q, which does not exist (steps are: %s)%s", s.Name, dep, list(names), hint(dep, names))
				}
			default:
				deps[i] = append(deps[i], k)
				depAt[i] = append(depAt[i], at)
			}
			seen[dep] = true
		}
	}

	anc := cycles(wf, deps, depAt, errs)
	checkCondRefs(wf, meta, byName, names, allNamed, anc, errs)
}

// cycles reports each cycle found by a depth-first search once: every back
// edge closes exactly one cycle, made of the steps on the search path from
// the edge's target. Cutting every reported edge makes the graph acyclic, so
// fixing what is reported fixes the file. It returns each step's ancestors
// (transitive dependencies), ignoring back edges.
func cycles(wf *Workflow, deps [][]int, depAt [][]Pos, errs *errorSink) []bitset {
	n := len(wf.Steps)
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, n)
	anc := make([]bitset, n)
	var path []int
	var visit func(u int)
	visit = func(u int) {
		state[u] = onPath
		path = append(path, u)
		anc[u] = newBitset(n)
		for _, v := range deps[u] {
			switch state[v] {
			case unseen:
				visit(v)
			case onPath:
				reportCycle(wf, path, v, deps, depAt, errs)
				continue
			}
			anc[u].set(v)
			anc[u].or(anc[v])
		}
		path = path[:len(path)-1]
		state[u] = done
	}
	for u := range n {
		if state[u] == unseen {
			visit(u)
		}
	}
	return anc
}

// reportCycle reports the cycle path[i:] -> v, where path[i] == v. It is
// written from the step that comes first in the file, "A -> B" meaning
// "A depends on B", and reported at that step's depends_on entry.
func reportCycle(wf *Workflow, path []int, v int, deps [][]int, depAt [][]Pos, errs *errorSink) {
	i := len(path) - 1
	for path[i] != v {
		i--
	}
	cyc := path[i:]
	first := 0
	for k := range cyc {
		if cyc[k] < cyc[first] {
			first = k
		}
	}
	names := make([]string, 0, len(cyc)+1)
	for k := range len(cyc) + 1 {
		names = append(names, wf.Steps[cyc[(first+k)%len(cyc)]].Name)
	}
	from, to := cyc[first], cyc[(first+1)%len(cyc)]
	at := wf.Steps[from].Pos
	for k, d := range deps[from] {
		if d == to {
			at = depAt[from][k]
			break
		}
	}
	errs.addAt(at, "dependency cycle: %s (each step depends on the next): remove one of these dependencies", strings.Join(names, " -> "))
}

// checkCondRefs checks that each `if` reads only the status of existing
// steps that are ancestors of its own step.
func checkCondRefs(wf *Workflow, meta []stepMeta, byName map[string]int, names []string, allNamed bool, anc []bitset, errs *errorSink) {
	for i, s := range wf.Steps {
		if s.Cond == nil || !meta[i].named {
			continue
		}
		for _, ref := range s.Cond.Steps() {
			k, ok := byName[ref]
			switch {
			case ref == s.Name:
				errs.addAt(meta[i].ifAt, "step %q: if reads its own status, which is not known before it runs", s.Name)
			case !ok:
				if allNamed && !errs.full() {
					errs.addAt(meta[i].ifAt, "step %q: if reads steps.%s, which does not exist (steps are: %s)%s", s.Name, ref, list(names), hint(ref, names))
				}
			case !anc[i].has(k):
				errs.addAt(meta[i].ifAt, "step %q: if reads the status of %q, which is not among its dependencies, so it may not have finished when the if is evaluated: add %q to depends_on", s.Name, ref, ref)
			}
		}
	}
}

// list joins step names for a message, eliding the middle of long lists.
func list(names []string) string {
	const most = 20
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, ... and %d more", strings.Join(names[:most], ", "), len(names)-most)
}

func hint(name string, names []string) string {
	if c := closest(name, names); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// bitset is a set of step indexes; MaxSteps keeps it at 16 words.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
