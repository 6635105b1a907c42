package workflow

import (
	"fmt"
	"strings"
	"testing"
)

// benchWorkflow is a realistic n-step file: env, commands, a mix of
// dependencies, timeouts and conditions.
func benchWorkflow(n int) string {
	var b strings.Builder
	b.WriteString("name: bench\nglobal:\n  env:\n    REGION: eu\n    TIER: prod\nsteps:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: step-%d\n    env:\n      N: %d\n    command: |\n      echo step %d\n      make target-%d\n", i, i, i, i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on: [step-%d", i-1)
			if i > 10 {
				fmt.Fprintf(&b, ", step-%d", i/2)
			}
			b.WriteString("]\n")
			fmt.Fprintf(&b, "    if: steps[\"step-%d\"].status == \"success\" && branch == \"main\"\n", i-1)
		}
		b.WriteString("    timeout: 10m\n    retries: 1\n")
	}
	return b.String()
}

func TestBenchWorkflowParses(t *testing.T) {
	wf, err := Parse("bench.yml", []byte(benchWorkflow(MaxSteps)))
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.Steps) != MaxSteps || wf.Steps[999].Cond == nil || len(wf.Steps[999].DependsOn) != 2 {
		t.Fatalf("unexpected result: %d steps", len(wf.Steps))
	}
}

func BenchmarkParse(b *testing.B) {
	src := []byte(benchWorkflow(MaxSteps))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yml", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAliasBomb measures how fast, and with how little memory
// (see B/op), each bomb is rejected.
func BenchmarkParseAliasBomb(b *testing.B) {
	for name, src := range aliasBombs {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("bomb.yml", []byte(src)); err == nil {
					b.Fatal("bomb accepted")
				}
			}
		})
	}
	b.Run("billion_laughs", func(b *testing.B) {
		src := []byte(billionLaughs(9) + "steps:\n  - {name: a, command: x, depends_on: *a9}\n")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse("bomb.yml", src); err == nil {
				b.Fatal("bomb accepted")
			}
		}
	})
}

func BenchmarkCondEval(b *testing.B) {
	c, err := CompileCond(`steps.build.status == "success" && branch in ["main", "release"] && env.TIER == "prod"`)
	if err != nil {
		b.Fatal(err)
	}
	vars := Vars{Branch: "main", Env: map[string]string{"TIER": "prod"}}
	steps := map[string]StepInfo{"build": {Status: "success"}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := c.Eval(vars, steps); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// nestingShapes are the deep documents of issue 13: goccy's parser alone
// needs about 800 MB for 20k `[` and 13 GB for 100k. Parse refuses them
// before parsing.
var nestingShapes = map[string]string{
	"flow_[_20k":       "name: d\nsteps: " + strings.Repeat("[", 20_000) + "\n",
	"flow_[_100k":      "name: d\nsteps: " + strings.Repeat("[", 100_000) + "\n",
	"flow_{_20k":       "steps: " + strings.Repeat("{a: ", 20_000) + "\n",
	"mixed_20k":        "steps: " + strings.Repeat("[{a: ", 20_000) + "\n",
	"block_-_20k":      "steps:\n" + strings.Repeat("- ", 20_000) + "x\n",
	"anchored_[_20k":   "steps: " + strings.Repeat("&a [", 20_000) + "\n",
	"block_indent_1k":  blockIndent(1000),
	"wide_mapping_10k": "steps: []\nglobal:\n  env:\n" + strings.Repeat("    A: 1\n", 10_000),
}

func blockIndent(depth int) string {
	var b strings.Builder
	b.WriteString("steps:\n")
	for i := range depth {
		b.WriteString(strings.Repeat("  ", i) + "- k:\n")
	}
	return b.String()
}

func BenchmarkParseNesting(b *testing.B) {
	for name, src := range nestingShapes {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("deep.yml", []byte(src)); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
