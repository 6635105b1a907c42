package workflow

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// designExample is the workflow from DESIGN.md, byte for byte.
const designExample = `name: "Default Runbook Workflow"
global:
  env:
    TEXT: "Hello"
steps:
  - name: "Greeting"
    env:
      TEXT: "Hello, World! I am"      # overrides global.env
    command: |
      echo "${TEXT} $(whoami)!"
      repo_cloner                      # clones the triggering repo into ./<repo-name>
      cd runbook-activated && ./run.sh
  - name: "Deploy"
    depends_on: ["Greeting"]
    if: 'branch == "main"'             # evaluated when the step becomes ready
    timeout: 10m
    retries: 1
`

func TestParseDesignExample(t *testing.T) {
	wf, err := Parse(".runbook.yml", []byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	if string(wf.Source) != designExample || wf.File != ".runbook.yml" || wf.Name != "Default Runbook Workflow" {
		t.Errorf("file/source/name not kept: %q %q", wf.File, wf.Name)
	}
	if !reflect.DeepEqual(wf.Env, map[string]string{"TEXT": "Hello"}) {
		t.Errorf("global env = %v", wf.Env)
	}
	if len(wf.Steps) != 2 {
		t.Fatalf("got %d steps", len(wf.Steps))
	}
	g, d := wf.Steps[0], wf.Steps[1]
	wantCmd := "echo \"${TEXT} $(whoami)!\"\nrepo_cloner                      # clones the triggering repo into ./<repo-name>\ncd runbook-activated && ./run.sh\n"
	if g.Name != "Greeting" || g.Command != wantCmd || g.Pos != (Pos{6, 3}) || g.Cond != nil {
		t.Errorf("Greeting = %+v", g)
	}
	if env := wf.StepEnv(0); env["TEXT"] != "Hello, World! I am" {
		t.Errorf("step env does not override global: %v", env)
	}
	if env := wf.StepEnv(1); env["TEXT"] != "Hello" {
		t.Errorf("global env not inherited: %v", env)
	}
	if d.Name != "Deploy" || !reflect.DeepEqual(d.DependsOn, []string{"Greeting"}) || d.Timeout != 10*time.Minute ||
		d.Retries != 1 || d.If != `branch == "main"` || d.Cond == nil || d.Pos != (Pos{13, 3}) || d.Command != "" {
		t.Errorf("Deploy = %+v", d)
	}
	if ok, err := d.Cond.Eval(Vars{Branch: "main"}, nil); !ok || err != nil {
		t.Errorf("Deploy's if on main = %v, %v", ok, err)
	}
}

func TestParseValid(t *testing.T) {
	src := `
defaults: &defaults
  timeout: 90s
steps:
  - name: build
    command: make
    env: {N: 1.50, B: true, S: 'x', H: 0x1F, E: ""}
    retries: 10
    continue_on_error: true
  - {name: test, command: "true", depends_on: build, timeout: 1h30m}
  - name: deploy
    command: true
    depends_on: [build, test]
    if: steps.test.status == "success" && steps["build"].status != "failed"
    retries: 0
`
	_, err := Parse("w.yml", []byte(src))
	// defaults is not a key we know: the whole file is still checked.
	wantErrors(t, err, `2:1: unknown key "defaults" in the workflow (valid keys: name, global, steps)`)

	wf, err := Parse("w.yml", []byte(strings.Replace(src, "defaults: &defaults\n  timeout: 90s\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	b, test, deploy := wf.Steps[0], wf.Steps[1], wf.Steps[2]
	if !reflect.DeepEqual(b.Env, map[string]string{"N": "1.50", "B": "true", "S": "x", "H": "0x1F", "E": ""}) {
		t.Errorf("env values must keep their text as written: %v", b.Env)
	}
	if b.Retries != 10 || !b.ContinueOnError || b.Timeout != 0 {
		t.Errorf("build = %+v", b)
	}
	if !reflect.DeepEqual(test.DependsOn, []string{"build"}) || test.Timeout != 90*time.Minute || test.Command != "true" || test.Pos != (Pos{8, 3}) {
		t.Errorf("test = %+v", test)
	}
	if deploy.Command != "true" || !reflect.DeepEqual(deploy.Cond.Steps(), []string{"build", "test"}) {
		t.Errorf("deploy = %+v", deploy)
	}
}

func TestParseAliasesAndMerge(t *testing.T) {
	src := `global:
  env: &common {REGION: eu, TIER: "1"}
steps:
  - &base
    name: a
    command: run
    timeout: 5m
    env: *common
  - <<: *base
    name: b
    depends_on: [a]
`
	wf, err := Parse("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := wf.Steps[1]
	if b.Name != "b" || b.Command != "run" || b.Timeout != 5*time.Minute || b.Env["REGION"] != "eu" || b.Pos != (Pos{9, 3}) {
		t.Errorf("merged step = %+v", b)
	}
}

func TestParseRunsOn(t *testing.T) {
	src := "steps:\n  - {name: a, command: x, runs_on: {executor: kubernetes, arch: arm64, gpu: true}}\n  - {name: b, command: x, runs_on: {}}\n"
	wf, err := Parse("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"executor": "kubernetes", "arch": "arm64", "gpu": "true"}
	if !reflect.DeepEqual(wf.Steps[0].RunsOn, want) {
		t.Errorf("runs_on = %v, want %v", wf.Steps[0].RunsOn, want)
	}
	if wf.Steps[1].RunsOn != nil {
		t.Errorf("empty runs_on = %v, want nil (any worker)", wf.Steps[1].RunsOn)
	}
}

func TestParseNetwork(t *testing.T) {
	src := "steps:\n  - {name: a, command: x, network: none}\n  - {name: b, command: x, network: default}\n  - {name: c, command: x}\n"
	wf, err := Parse("w.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{wf.Steps[0].Network, wf.Steps[1].Network, wf.Steps[2].Network}; !reflect.DeepEqual(got, []string{"none", "", ""}) {
		t.Errorf("networks = %q, want none, default (\"\"), default", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col: message"
	}{
		{"unknown step key", "steps:\n  - name: a\n    command: x\n    depend_on: [b]\n",
			[]string{`4:5: unknown key "depend_on" in step "a": did you mean "depends_on"?`}},
		{"unknown key far from any", "steps:\n  - name: a\n    command: x\n    zzz: 1\n",
			[]string{`4:5: unknown key "zzz" in step "a" (valid keys: name, env, command, depends_on, if, timeout, retries, continue_on_error, runs_on, kubernetes, network)`}},
		{"runs_on not a mapping", "steps:\n  - {name: a, command: x, runs_on: arm64}\n",
			[]string{`2:36: step "a": runs_on must be a mapping of label: value (e.g. {arch: arm64}), not a string`}},
		{"runs_on bad label", "steps:\n  - {name: a, command: x, runs_on: {\"a b\": x, arch: \"x y\"}}\n",
			[]string{`2:37: step "a" runs_on: invalid label name "a b": use letters, digits and ._/-, starting with a letter or digit, at most 63 characters`,
				`2:47: step "a" runs_on: invalid value "x y" of label "arch": use letters, digits and ._/-, at most 63 characters`}},
		{"unknown global key", "global:\n  evn: {}\nsteps:\n  - {name: a, command: x}\n",
			[]string{`2:3: unknown key "evn" in global: did you mean "env"?`}},
		{"transposed top key", "nmae: x\nsteps:\n  - {name: a, command: x}\n",
			[]string{`1:1: unknown key "nmae" in the workflow: did you mean "name"?`}},
		{"retries string", "steps:\n  - name: a\n    command: x\n    retries: \"x\"\n",
			[]string{`4:14: step "a": retries must be a whole number ≥ 0 (at most 10), not "x"`}},
		{"retries negative", "steps:\n  - {name: a, command: x, retries: -1}\n",
			[]string{`2:36: step "a": retries must be a whole number ≥ 0 (at most 10), not "-1"`}},
		{"retries float", "steps:\n  - {name: a, command: x, retries: 1.5}\n",
			[]string{`2:36: step "a": retries must be a whole number ≥ 0 (at most 10), not "1.5"`}},
		{"retries too many", "steps:\n  - {name: a, command: x, retries: 11}\n",
			[]string{`2:36: step "a": retries must be at most 10, not 11`}},
		{"retries huge", "steps:\n  - {name: a, command: x, retries: 18446744073709551615}\n",
			[]string{`2:36: step "a": retries must be at most 10, not 18446744073709551615`}},
		{"timeout no unit", "steps:\n  - {name: a, command: x, timeout: 90}\n",
			[]string{`2:36: step "a": timeout needs a unit: write 90s or 90m, not 90`}},
		{"timeout garbage", "steps:\n  - {name: a, command: x, timeout: soon}\n",
			[]string{`2:36: step "a": timeout must be a duration such as 90s, 10m or 1h30m, not "soon"`}},
		{"timeout zero", "steps:\n  - {name: a, command: x, timeout: 0s}\n",
			[]string{`2:36: step "a": timeout must be more than 0, not "0s"; remove it for no timeout`}},
		{"timeout negative", "steps:\n  - {name: a, command: x, timeout: -5m}\n",
			[]string{`2:36: step "a": timeout must be more than 0, not "-5m"; remove it for no timeout`}},
		{"network not default or none", "steps:\n  - name: a\n    command: x\n    network: host\n",
			[]string{`4:14: step "a": network must be default or none (none leaves the step only loopback), not "host"`}},
		{"continue_on_error not bool", "steps:\n  - name: a\n    command: x\n    continue_on_error: yes\n",
			[]string{`4:24: step "a": continue_on_error must be true or false, not "yes"`}},
		{"empty command", "steps:\n  - name: a\n    command: \"  \"\n",
			[]string{`3:14: step "a" has an empty command: write the shell commands to run after ` + "`command:`"}},
		{"null command", "steps:\n  - name: a\n    command:\n",
			[]string{`3:5: step "a" has an empty command: write the shell commands to run after ` + "`command:`"}},
		{"command is a list", "steps:\n  - name: a\n    command: [ls]\n",
			[]string{`3:14: step "a": command must be a string, not a list`}},
		{"missing name", "steps:\n  - command: x\n  -   name: b\n      command: y\n",
			[]string{"2:3: step 1 has no name: add `name: ...` (names are how depends_on and if refer to steps)"}},
		{"empty name", "steps:\n  - name: \"\"\n    command: x\n",
			[]string{`2:11: a step's name must not be empty`}},
		{"name with newline", "steps:\n  - name: \"a\\nb\"\n    command: x\n",
			[]string{`2:11: step name "a\nb" must be a single line without control characters`}},
		{"duplicate names", "steps:\n  - {name: a, command: x}\n  - name: a\n    command: y\n",
			[]string{`3:11: step name "a" is already used by the step at line 2: step names must be unique`}},
		{"missing dependency", "steps:\n  - {name: A, command: x}\n  - {name: B, command: x}\n  - name: C\n    command: x\n    depends_on: [A, D]\n",
			[]string{`6:21: step "C" depends on "D", which does not exist (steps are: A, B, C)`}},
		{"missing dependency near a name", "steps:\n  - {name: build, command: x}\n  - {name: test, command: x, depends_on: biuld}\n",
			[]string{`3:42: step "test" depends on "biuld", which does not exist (steps are: build, test); did you mean "build"?`}},
		{"self dependency", "steps:\n  - {name: a, command: x, depends_on: [a]}\n",
			[]string{`2:40: step "a" depends on itself: remove "a" from its depends_on`}},
		{"duplicate dependency", "steps:\n  - {name: a, command: x}\n  - {name: b, command: x, depends_on: [a, a]}\n",
			[]string{`3:43: step "b" lists "a" twice in depends_on: remove one`}},
		{"dependency not a name", "steps:\n  - {name: a, command: x}\n  - {name: b, command: x, depends_on: [[a]]}\n",
			[]string{`3:40: step "b": depends_on must list step names, but this entry is a list`}},
		{"cycle of three, not the steps around it", `steps:
  - {name: X, command: x}
  - {name: A, command: x, depends_on: [X, C]}
  - {name: B, command: x, depends_on: [A]}
  - {name: C, command: x, depends_on: [B]}
  - {name: Y, command: x, depends_on: [C]}
`, []string{`3:43: dependency cycle: A -> C -> B -> A (each step depends on the next): remove one of these dependencies`}},
		{"two cycles", `steps:
  - {name: A, command: x, depends_on: [B]}
  - {name: B, command: x, depends_on: [A]}
  - {name: C, command: x, depends_on: [D]}
  - {name: D, command: x, depends_on: [C]}
`, []string{
			`2:40: dependency cycle: A -> B -> A (each step depends on the next): remove one of these dependencies`,
			`4:40: dependency cycle: C -> D -> C (each step depends on the next): remove one of these dependencies`,
		}},
		{"bad env names and values", "global:\n  env:\n    1X: a\n    A-B: b\n    OK: [1]\n    NUL:\nsteps:\n  - {name: a, command: x, env: {\"has space\": 1}}\n",
			[]string{
				`3:5: invalid environment variable name "1X" in global.env: use letters, digits and _, not starting with a digit`,
				`4:5: invalid environment variable name "A-B" in global.env: use letters, digits and _, not starting with a digit`,
				`5:9: OK in global.env must be a string, number or bool, not a list; quote it to pass it as text`,
				`6:5: NUL has no value in global.env: write NUL: "" for an empty string`,
				`8:33: invalid environment variable name "has space" in step "a" env: use letters, digits and _, not starting with a digit`,
			}},
		{"env not a mapping", "steps:\n  - {name: a, command: x, env: [A]}\n",
			[]string{`2:32: step "a" env must be a mapping of NAME: value, not a list`}},
		{"duplicate key", "steps:\n  - name: a\n    command: x\n    command: y\n",
			[]string{`4:5: key "command" is set twice in a step (first at line 3); remove one`}},
		{"if does not compile", "steps:\n  - name: a\n    command: x\n    if: branch ==\n",
			[]string{`4:9: step "a": invalid if: unexpected token EOF (at column 9 of the expression)`}},
		{"if not bool", "steps:\n  - name: a\n    command: x\n    if: branch\n",
			[]string{`4:9: step "a": invalid if: the expression must be true or false: expected bool, but got string`}},
		{"if unknown variable", "steps:\n  - name: a\n    command: x\n    if: brnch == \"main\"\n",
			[]string{`4:9: step "a": invalid if: unknown name brnch (at column 1 of the expression)`}},
		{"if reads missing step", "steps:\n  - {name: a, command: x}\n  - name: b\n    command: x\n    if: steps.c.status == \"success\"\n",
			[]string{`5:9: step "b": if reads steps.c, which does not exist (steps are: a, b)`}},
		{"if reads a step that is not an ancestor", "steps:\n  - {name: a, command: x}\n  - name: b\n    command: x\n    if: steps.a.status == \"success\"\n",
			[]string{`5:9: step "b": if reads the status of "a", which is not among its dependencies, so it may not have finished when the if is evaluated: add "a" to depends_on`}},
		{"if reads itself", "steps:\n  - name: a\n    command: x\n    if: steps.a.status == \"\"\n",
			[]string{`4:9: step "a": if reads its own status, which is not known before it runs`}},
		{"if empty", "steps:\n  - name: a\n    command: x\n    if: \"\"\n",
			[]string{`4:9: step "a": if must be an expression such as 'branch == "main"', not ""; remove ` + "`if`" + ` to always run the step`}},
		{"no steps key", "name: x\n",
			[]string{"1:1: the workflow has no `steps:`: add a list of steps, each with a name and a command"}},
		{"empty steps", "steps: []\n",
			[]string{"1:1: steps is empty: add at least one step, such as `- name: build` with a `command`"}},
		{"steps is a mapping", "steps:\n  a: {command: x}\n",
			[]string{"2:3: steps must be a list of steps (each starting with `- name: ...`), not a mapping"}},
		{"step is a string", "steps:\n  - echo hi\n",
			[]string{"2:3: each step must be a mapping with `name` and `command`, not a string"}},
		{"top level is a list", "- a\n- b\n",
			[]string{"1:1: a workflow must be a mapping with `name`, `global` and `steps`, not a list"}},
		{"top level is a string", "hello\n",
			[]string{"1:1: a workflow must be a mapping with `name`, `global` and `steps`, not a string"}},
		{"syntax error", "steps:\n  - name: a\n    command: [x\n",
			[]string{"3:14: invalid YAML: sequence end token ']' not found"}},
		{"tab indent", "steps:\n  - name: a\n\tcommand: y\n",
			[]string{"3:1: invalid YAML: found character '\t' that cannot start any token: YAML indents with spaces, not tabs"}},
		{"two documents", "steps:\n  - {name: a, command: x}\n---\nsteps: []\n",
			[]string{"3:1: a workflow file holds one YAML document; remove this `---` and what follows, or move it to its own file"}},
		{"alias without anchor", "steps:\n  - {name: a, command: *cmd}\n",
			[]string{"2:24: alias *cmd has no anchor &cmd before it"}},
		{"alias inside its own anchor", "steps: &s\n  - {name: a, command: x, env: *s}\n",
			[]string{"2:32: alias *s is inside the value of its own anchor &s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wf, err := Parse("f.yml", []byte(tt.src))
			if wf != nil {
				t.Errorf("got a workflow with errors")
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

// TestParseReportsEverything checks that problems of every kind in one file
// are reported together, in file order.
func TestParseReportsEverything(t *testing.T) {
	src := `name: all at once
steps:
  - name: A
    command: x
    depends_on: [B]
  - name: B
    command: ""
    depends_on: [A, Z]
    retries: many
  - name: C
    comand: y
    if: steps.A.status ==
`
	_, err := Parse("f.yml", []byte(src))
	wantErrors(t, err,
		`5:18: dependency cycle: A -> B -> A (each step depends on the next): remove one of these dependencies`,
		"7:14: step \"B\" has an empty command: write the shell commands to run after `command:`",
		`8:21: step "B" depends on "Z", which does not exist (steps are: A, B, C)`,
		`9:14: step "B": retries must be a whole number ≥ 0 (at most 10), not "many"`,
		`11:5: unknown key "comand" in step "C": did you mean "command"?`,
		`12:9: step "C": invalid if: unexpected token EOF (at column 17 of the expression)`,
	)
}

func TestParseLimitsAndBadBytes(t *testing.T) {
	big := "steps:\n  - name: a\n    command: " + strings.Repeat("x", MaxFileSize) + "\n"
	var many strings.Builder
	many.WriteString("steps:\n")
	for i := range MaxSteps + 1 {
		fmt.Fprintf(&many, "  - {name: s%d, command: x}\n", i)
	}
	tests := []struct{ name, src, want string }{
		{"too big", big, fmt.Sprintf("f.yml: the file is %d bytes; the limit is 1048576 (1 MiB)", len(big))},
		{"too many steps", many.String(), "f.yml:1:1: the workflow has 1001 steps; the limit is 1000: split it into several workflows"},
		{"empty", "", "f.yml: the file is empty: a workflow needs a `steps:` list with at least one step"},
		{"blank", " \n\t\n", "f.yml: the file is empty"},
		{"only comments", "# nothing\n", "f.yml:1:1: the file has no content, only comments"},
		{"NUL byte", "steps:\n  - na\x00me: a\n", "f.yml: the file is binary (a NUL byte at line 2, column 7), not a YAML workflow"},
		{"invalid UTF-8", "steps:\n  - name: \xff\n", "f.yml: the file is not valid UTF-8 text (invalid byte at line 2, column 11): save it as UTF-8"},
		{"deep nesting", "steps: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n", "f.yml:1:71: nesting deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yml", []byte(tt.src))
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			if !strings.HasPrefix(list[0].Error(), tt.want) && !strings.Contains(list[0].Error(), tt.want) {
				t.Errorf("got  %s\nwant %s", list[0], tt.want)
			}
		})
	}
}

func TestParseBOM(t *testing.T) {
	src := "\ufeffsteps:\n  - {name: a, command: x}\n"
	wf, err := Parse("f.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if string(wf.Source) != src {
		t.Errorf("Source must keep the exact bytes, BOM included")
	}
}

// billionLaughs builds a file whose aliases expand to 10^levels values.
func billionLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// aliasBombs are files that expand far beyond their size where Parse reads.
var aliasBombs = map[string]string{
	// 2^40 merges of the same mapping.
	"merge keys": "b0: &b0 {name: a, command: x}\n" + mergeBomb(40) + "steps:\n  - <<: *b40\n",
	// 1000 steps × a 2,000-name depends_on: 2·10^6 names from 12 kB
	// (and 10^8 from a 1 MiB file).
	"wide depends_on": "deps: &d [" + strings.Repeat("a,", 2000) + "a]\n" +
		"steps:\n  - &s {name: a, command: x, depends_on: *d}\n" + strings.Repeat("  - *s\n", 999),
	// 1000 steps × a 1,000-variable env.
	"wide env": "env: &e {" + manyVars(1000) + "}\n" +
		"steps:\n  - &s {name: a, command: x, env: *e}\n" + strings.Repeat("  - *s\n", 999),
}

func TestParseAliasBomb(t *testing.T) {
	for name, src := range aliasBombs {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("bomb.yml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), "this looks like an alias bomb: use fewer aliases") {
				t.Fatalf("bomb not rejected: %.300v", err)
			}
		})
	}
}

// TestParseBillionLaughs: the classic bomb nests lists, and Parse never
// descends into nested lists, so it is rejected without being expanded.
func TestParseBillionLaughs(t *testing.T) {
	src := billionLaughs(9) + "steps:\n  - {name: a, command: x, depends_on: *a9}\n"
	_, err := Parse("bomb.yml", []byte(src))
	wantErrorsContain(t, err, `1:1: unknown key "a0"`, `10:1: unknown key "a9"`,
		// reported where the nested lists are written: in the anchor
		`10:10: step "a": depends_on must list step names, but this entry is a list`)
}

func manyVars(n int) string {
	vars := make([]string, n)
	for i := range vars {
		vars[i] = fmt.Sprintf("V%d: %d", i, i)
	}
	return strings.Join(vars, ", ")
}

func mergeBomb(levels int) string {
	var b strings.Builder
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "b%d: &b%d {<<: [*b%d, *b%d]}\n", i, i, i-1, i-1)
	}
	return b.String()
}

func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %T %v", err, err)
	}
	var got []string
	for _, e := range list {
		got = append(got, strings.TrimPrefix(e.Error(), e.File+":"))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func wantErrorsContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want errors, got none")
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("errors do not mention %q:\n%v", p, err)
		}
	}
}

func TestParseCapsErrors(t *testing.T) {
	src := "steps:\n" + strings.Repeat("  - {nme: a}\n", 150)
	_, err := Parse("f.yml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != MaxErrors+1 {
		t.Fatalf("want %d errors and a summary, got %d", MaxErrors, len(list))
	}
	// 150 steps × 2 problems (unknown key, no name) = 300.
	if got, want := list[MaxErrors].Error(), "f.yml: ... and 200 more problems not shown: fix the ones above first"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseIfReadsTransitiveDependency(t *testing.T) {
	src := `steps:
  - {name: a, command: x}
  - {name: b, command: x, depends_on: a}
  - name: c
    command: x
    depends_on: [b]
    if: steps.a.status == "success" && steps.b.status == "success"
`
	wf, err := Parse("f.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := wf.Steps[2].Cond
	if ok, err := c.Eval(Vars{}, map[string]StepInfo{"a": {"success"}, "b": {"success"}}); !ok || err != nil {
		t.Errorf("Eval = %v, %v", ok, err)
	}
	if ok, _ := c.Eval(Vars{}, map[string]StepInfo{"a": {"skipped"}, "b": {"success"}}); ok {
		t.Errorf("Eval with a skipped = true")
	}
}

// TestParseManyMissingDependencies: a file of 20,000 unknown names (as many
// as the token limit allows) gets a capped list of errors (hints are only
// computed for the ones shown).
func TestParseManyMissingDependencies(t *testing.T) {
	var b strings.Builder
	b.WriteString("steps:\n  - name: a\n    command: x\n    depends_on: [")
	for i := range 20_000 {
		fmt.Fprintf(&b, "s%d,", i)
	}
	b.WriteString("z]\n")
	_, err := Parse("f.yml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != MaxErrors+1 || !strings.Contains(list[0].Msg, `depends on "s0", which does not exist (steps are: a)`) {
		t.Fatalf("got %d errors: %.200v", len(list), err)
	}
}

// TestParseRefusesDeepNestingCheaply is issue 13's repro: 20 KB of `[` took
// the server to 656 MB because the depth check ran after goccy's parser.
// Now every shape is refused before parsing, at the token that goes too
// deep, allocating a few MB.
func TestParseRefusesDeepNestingCheaply(t *testing.T) {
	want := map[string]string{
		"flow_[_20k":       ".runbook.yml:2:71: nesting deeper than 64 levels",
		"flow_[_100k":      ".runbook.yml:2:71: nesting deeper than 64 levels",
		"flow_{_20k":       ".runbook.yml:1:260: nesting deeper than 64 levels",
		"mixed_20k":        ".runbook.yml:1:164: nesting deeper than 64 levels",
		"block_-_20k":      ".runbook.yml:2:127: nesting deeper than 64 levels",
		"anchored_[_20k":   ".runbook.yml:1:261: nesting deeper than 64 levels",
		"block_indent_1k":  ".runbook.yml:33:65: nesting deeper than 64 levels",
		"wide_mapping_10k": ".runbook.yml:2004:5: a mapping here has more than 2000 keys",
	}
	for name, src := range nestingShapes {
		var err error
		alloc := allocatedBy(func() { _, err = Parse(".runbook.yml", []byte(src)) })
		if err == nil || !strings.HasPrefix(err.Error(), want[name]) {
			t.Errorf("%s: got %.300v\nwant %s", name, err, want[name])
		}
		if alloc > 64<<20 {
			t.Errorf("%s: refusing it allocated %.0f MB", name, float64(alloc)/1e6)
		}
	}
}

func allocatedBy(f func()) uint64 {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}
