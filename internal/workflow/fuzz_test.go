package workflow

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(benchWorkflow(20)))
	f.Add([]byte("steps:\n  - &b {name: a, command: x, env: {A: 1}}\n  - {<<: *b, name: b, depends_on: a, if: 'steps.a.status == \"ok\"'}\n"))
	f.Add([]byte("steps:\n  - {name: A, command: x, depends_on: [B]}\n  - {name: B, command: x, depends_on: [A]}\n"))
	f.Add([]byte(billionLaughs(3) + "steps: *a3\n"))
	f.Add([]byte("b0: &b0 {name: a, command: x}\n" + mergeBomb(5) + "steps:\n  - <<: *b5\n"))
	f.Add([]byte("global: {env: {X: [1]}}\nsteps: [{name: a, command: x, timeout: 1h, retries: 3, continue_on_error: true}]\n---\nx: 1\n"))
	f.Add([]byte("steps:\n  - {name: a, command: x, kubernetes: {image: go, resources: {requests: {cpu: 500m}, limits: {cpu: 1e1, memory: 1.5Gi}}, node_selector: {k8s.io/a: b}}}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		wf, err := Parse("f.yml", src)
		if err != nil {
			checkErrorList(t, err)
			return
		}
		checkWorkflow(t, wf, src)
	})
}

// checkErrorList: a rejected file gets at least one located, sorted error.
func checkErrorList(t *testing.T, err error) {
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
	}
	for i, e := range list {
		if e.File != "f.yml" || e.Msg == "" {
			t.Fatalf("bad error %#v", e)
		}
		if i > 0 && e.Pos.Line > 0 {
			p := list[i-1].Pos
			if p.Line > e.Pos.Line || p.Line == e.Pos.Line && p.Col > e.Pos.Col {
				t.Fatalf("errors not sorted: %v", err)
			}
		}
	}
}

// checkWorkflow: an accepted file is self-consistent, checked here without
// the parser's own graph code.
func checkWorkflow(t *testing.T, wf *Workflow, src []byte) {
	if string(wf.Source) != string(src) || len(wf.Steps) == 0 || len(wf.Steps) > MaxSteps {
		t.Fatalf("bad workflow: %d steps", len(wf.Steps))
	}
	idx := map[string]int{}
	for i, s := range wf.Steps {
		if strings.TrimSpace(s.Name) == "" {
			t.Fatalf("step %d has no name", i)
		}
		if _, dup := idx[s.Name]; dup {
			t.Fatalf("duplicate step name %q", s.Name)
		}
		idx[s.Name] = i
		if s.Retries < 0 || s.Retries > MaxRetries || s.Timeout < 0 || (s.If == "") != (s.Cond == nil) {
			t.Fatalf("bad step %+v", s)
		}
		for k := range wf.StepEnv(i) {
			if !envName.MatchString(k) {
				t.Fatalf("bad env name %q", k)
			}
		}
		if k := s.Kubernetes; k != nil {
			checkKubernetes(t, s.Name, k)
		}
	}
	// Kahn's algorithm: every step must be removable, else there is a cycle.
	indeg := make([]int, len(wf.Steps))
	users := make([][]int, len(wf.Steps))
	for i, s := range wf.Steps {
		seen := map[string]bool{}
		for _, d := range s.DependsOn {
			j, ok := idx[d]
			if !ok || j == i || seen[d] {
				t.Fatalf("step %q: bad dependency %q", s.Name, d)
			}
			seen[d] = true
			indeg[i]++
			users[j] = append(users[j], i)
		}
	}
	var ready []int
	for i, n := range indeg {
		if n == 0 {
			ready = append(ready, i)
		}
	}
	done := map[int]map[int]bool{} // step -> its ancestors
	order := 0
	for len(ready) > 0 {
		u := ready[0]
		ready = ready[1:]
		order++
		anc := map[int]bool{}
		for _, d := range wf.Steps[u].DependsOn {
			anc[idx[d]] = true
			for a := range done[idx[d]] {
				anc[a] = true
			}
		}
		done[u] = anc
		if c := wf.Steps[u].Cond; c != nil {
			for _, ref := range c.Steps() {
				if j, ok := idx[ref]; !ok || !anc[j] {
					t.Fatalf("step %q: if reads %q, not an ancestor", wf.Steps[u].Name, ref)
				}
			}
		}
		for _, v := range users[u] {
			if indeg[v]--; indeg[v] == 0 {
				ready = append(ready, v)
			}
		}
	}
	if order != len(wf.Steps) {
		t.Fatalf("accepted a workflow with a dependency cycle")
	}
}

func FuzzCond(f *testing.F) {
	for _, s := range []string{
		`branch == "main"`, `steps.a.status == "success" && env.X != ""`, `steps["a b"].status in ["x", "y"]`,
		`sha matches "^[0-9a-f]+$"`, `let x = branch + repo; len(x) > 3`, `int(env.N) > 2`, `1..3 == [1, 2, 3]`,
		`lower(trim(event)) startsWith "pu"`, `(branch ?? "x") contains "a"`, `float(sha) / 0 > 1`,
	} {
		f.Add(s, "main", "42", "success")
	}
	f.Fuzz(func(t *testing.T, src, branch, n, status string) {
		c, err := CompileCond(src)
		if err != nil {
			return
		}
		steps := map[string]StepInfo{}
		for _, name := range c.Steps() {
			steps[name] = StepInfo{Status: status}
		}
		_, _ = c.Eval(Vars{Branch: branch, Env: map[string]string{"N": n, "X": branch}}, steps)
		_, _ = c.Eval(Vars{}, nil) // nothing set: still no panic
	})
}

// checkKubernetes: accepted pod settings are non-empty, with quantities
// that read and requests within limits, and valid node labels.
func checkKubernetes(t *testing.T, step string, k *Kubernetes) {
	if k.isZero() {
		t.Fatalf("step %q: empty kubernetes settings kept", step)
	}
	r := k.Resources
	for _, pair := range [][2]string{{r.Requests.CPU, r.Limits.CPU}, {r.Requests.Memory, r.Limits.Memory}} {
		var vals [2]*big.Rat
		for j, q := range pair {
			if q == "" {
				continue
			}
			v, err := Quantity(q)
			if err != nil {
				t.Fatalf("step %q: accepted quantity %q: %v", step, q, err)
			}
			vals[j] = v
		}
		if vals[0] != nil && vals[1] != nil && vals[0].Cmp(vals[1]) > 0 {
			t.Fatalf("step %q: request %s above limit %s accepted", step, pair[0], pair[1])
		}
	}
	for key, v := range k.NodeSelector {
		if err := ValidNodeSelector(key, v); err != nil {
			t.Fatalf("step %q: %v", step, err)
		}
	}
}
