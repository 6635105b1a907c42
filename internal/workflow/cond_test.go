package workflow

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestCondEval(t *testing.T) {
	vars := Vars{Env: map[string]string{"TIER": "prod"}, Branch: "main", Event: "push", SHA: "abc123", Repo: "acme/app"}
	steps := map[string]StepInfo{"build": {Status: "success"}, "my test": {Status: "failed"}}
	tests := []struct {
		src  string
		want bool
	}{
		{`branch == "main"`, true},
		{`branch != "main"`, false},
		{`event == "push" && repo == "acme/app" && sha startsWith "abc"`, true},
		{`env.TIER == "prod"`, true},
		{`env.MISSING == ""`, true}, // a missing env key reads as ""
		{`steps.build.status == "success"`, true},
		{`steps["my test"].status == "failed"`, true},
		{`branch in ["main", "release"]`, true},
		{`branch matches "^rel"`, false},
		{`lower(env.TIER) + "-" + branch == "prod-main"`, true},
		{`len(sha) == 6`, true},
		{`true`, true},
	}
	for _, tt := range tests {
		c, err := CompileCond(tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		got, err := c.Eval(vars, steps)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.src, got, err, tt.want)
		}
		if c.String() != tt.src {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestCondSteps(t *testing.T) {
	c, err := CompileCond(`steps.b.status == "x" || steps["a b"].status == "y" || steps.b.status == "z"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Steps(); !reflect.DeepEqual(got, []string{"a b", "b"}) {
		t.Errorf("Steps() = %q", got)
	}
	c, _ = CompileCond(`branch == "x"`)
	if len(c.Steps()) != 0 {
		t.Errorf("Steps() = %q, want none", c.Steps())
	}
}

func TestCompileCondErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`branch ==`, "unexpected token EOF"},
		{`branch`, "the expression must be true or false: expected bool, but got string"},
		{`steps.a.result == ""`, "has no field result"},
		{`steps[branch].status == ""`, `steps must be indexed by a step's name written out, as in steps.build.status or steps["my step"].status (at column 6 of the expression)`},
		{`len(steps) > 0`, `steps can only be read as steps.NAME.status (or steps["a name"].status) (at column 5 of the expression)`},
		{`$env.branch == ""`, "$env is not available in conditions"},
		{`all(["a"], # == "a")`, "all() is not available in conditions"},
		{`reduce(1..60, #acc + #acc, "x") == ""`, "reduce() is not available in conditions"},
		{`repeat("x", 10) == ""`, "unknown name repeat"},
		{`branch == "` + strings.Repeat("x", MaxCondSize) + `"`, fmt.Sprintf("the limit is %d", MaxCondSize)},
		{strings.Repeat("!", MaxCondNodes) + "true", "exceeds maximum allowed nodes"},
	}
	for _, tt := range tests {
		_, err := CompileCond(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40s: got %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestCondEvalErrorsDoNotPanic(t *testing.T) {
	// Doubling a string with let would need 2^30 bytes: concat stops it.
	var b strings.Builder
	b.WriteString(`let s0 = branch; `)
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "let s%d = s%d + s%d; ", i, i-1, i-1)
	}
	b.WriteString(`s30 == ""`)
	tests := []struct{ src, want string }{
		{b.String(), fmt.Sprintf("string concatenation longer than %d bytes", MaxCondConcat)},
		{`int(branch) == 1`, `invalid operation: int(main)`},
		{`len(1..1000000) > 0`, "memory budget exceeded"},
		{`steps.missing.status == ""`, ""}, // a step not in the map reads as ""
	}
	for _, tt := range tests {
		c, err := CompileCond(tt.src)
		if err != nil {
			t.Fatalf("%.40s: %v", tt.src, err)
		}
		_, err = c.Eval(Vars{Branch: "main"}, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%.40s: got %v, want %q", tt.src, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("runtime errors must be one line: %q", err)
		}
	}
}
