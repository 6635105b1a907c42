package main

import (
	"bytes"
	"errors"
	"testing"
)

func TestStepExecRunsTheCommandAfterDashDashAndKeepsItsExitCode(t *testing.T) {
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"step-exec", "--", "echo hi; exit 4"})
	err := root.Execute()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 4 || ee.err != nil {
		t.Fatalf("err %v, want a silent exit with code 4", err)
	}
	if got, want := out.String(), "O1 hi\nX2 4\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

func TestStepExecWantsTheCommandAfterDashDash(t *testing.T) {
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"step-exec", "echo", "hi"})
	err := root.Execute()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err %v, want a usage error with code 2", err)
	}
}
