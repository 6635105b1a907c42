package workflow

import (
	"fmt"
	"slices"
	"strings"
)

// The keys Parse accepts at each level. schema/runbook.schema.json must list
// exactly these (a test in schema/ checks it). New keys (runs_on...) are
// added here and to the decoder's switch.
var (
	topKeys    = []string{"name", "global", "steps"}
	globalKeys = []string{"env"}
	stepKeys   = []string{"name", "env", "command", "depends_on", "if", "timeout", "retries", "continue_on_error", "runs_on", "kubernetes", "network"}
)

// TopKeys, GlobalKeys and StepKeys return the keys Parse accepts at the top
// level, under `global`, and in a step.
func TopKeys() []string    { return slices.Clone(topKeys) }
func GlobalKeys() []string { return slices.Clone(globalKeys) }
func StepKeys() []string   { return slices.Clone(stepKeys) }

// unknownKey explains a key that is not in valid, with the closest valid
// key as a hint when it is near enough to be a typo.
func unknownKey(key, where string, valid []string) string {
	if s := closest(key, valid); s != "" {
		return fmt.Sprintf("unknown key %q in %s: did you mean %q?", key, where, s)
	}
	return fmt.Sprintf("unknown key %q in %s (valid keys: %s)", key, where, strings.Join(valid, ", "))
}

// closest returns the candidate within a typo's distance of s, or "".
// The allowed distance grows with length: 1 for short words, up to 3;
// names under 3 letters get no hint.
func closest(s string, candidates []string) string {
	if len(s) < 3 { // one letter off a one- or two-letter name is no hint
		return ""
	}
	best, bestD := "", 0
	limit := min(3, max(1, len(s)/3))
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c), limit)
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the edit distance of a and b counting a swap of two
// neighbouring letters as one edit (optimal string alignment), or limit+1
// when the lengths alone differ by more than limit: hostile 1 MiB keys are
// compared only with keys of about their size, so this stays cheap.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	// rows i-2, i-1 and i of the dynamic-programming table
	pp, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(rb)]
}
