package yamlguard

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// upload is the largest document Runbook accepts (workflow.MaxFileSize).
const upload = 1 << 20

// fill repeats unit after prefix until the document is about size bytes.
func fill(prefix, unit, suffix string, size int) string {
	n := (size - len(prefix) - len(suffix)) / len(unit)
	return prefix + strings.Repeat(unit, n) + suffix
}

// blockNest is depth levels of block mappings, each key indented one more.
func blockNest(depth int) string {
	var b strings.Builder
	for i := range depth {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	return b.String()
}

// hostile are documents goccy's parser cannot read cheaply. Each must be
// refused, before parsing, at the position named.
var hostile = []struct {
	name, src, want string
}{
	{"flow [ 20k (the issue's repro)", "name: d\nsteps: " + strings.Repeat("[", 20_000) + "\n", "2:71: nesting deeper than 64 levels"},
	{"flow [ 100k", "steps: " + strings.Repeat("[", 100_000) + "\n", "1:71: nesting deeper than 64 levels"},
	{"flow [ to the upload limit", fill("steps: ", "[", "\n", upload), "too dense"},
	{"flow [ just under the raw bound", "s: " + strings.Repeat("[", Default.MaxTokens*rawTokenFactor-2), "1:67: nesting deeper"},
	{"flow , just under the raw bound", "s: [" + strings.Repeat(",", Default.MaxTokens*rawTokenFactor-5) + "]", "YAML tokens"},
	{"flow { 20k", "steps: " + strings.Repeat("{a: ", 20_000) + "\n", "1:260: nesting deeper than 64 levels"},
	{"mixed [{ 20k", "steps: " + strings.Repeat("[{a: ", 10_000) + "\n", "nesting deeper than 64 levels"},
	{"closed [] 20k", "steps: " + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + "\n", "nesting deeper than 64 levels"},
	{"block - - 20k on one line", "steps:\n" + strings.Repeat("- ", 20_000) + "x\n", "2:127: nesting deeper than 64 levels"},
	{"block - lines, each indented", func() string {
		var b strings.Builder
		for i := range 1000 {
			b.WriteString(strings.Repeat(" ", 2*i) + "-\n")
		}
		return b.String()
	}(), "65:129: nesting deeper than 64 levels"},
	{"block mappings indented", blockNest(1400), "65:65: nesting deeper than 64 levels"},
	{"anchors on every level", "steps: " + strings.Repeat("&a [", 20_000) + "\n", "nesting deeper than 64 levels"},
	{"tags stacked", "steps: " + strings.Repeat("!t ", 20_000) + "x\n", "nesting deeper than 64 levels"},
	{"wide block mapping", strings.Repeat("a: 1\n", 10_000), "2001:1: a mapping here has more than 2000 keys"},
	{"wide block mapping to the upload limit", fill("", "a: 1\n", "", upload), "too dense"},
	{"wide flow sequence", fill("steps: [", "1,", "]\n", upload), "too dense"},
	{"wide flow sequence, spaced", fill("steps: [", "1, ", "]\n", upload), "YAML tokens"},
	{"long key, many values", strings.Repeat("k", 200_000) + ":\n" + strings.Repeat("- 1\n", 20_000), "key paths"},
	{"long keys nested", func() string {
		var b strings.Builder
		for i := range 10 {
			b.WriteString(strings.Repeat(" ", i) + strings.Repeat("k", 30_000) + ":\n")
		}
		return b.String() + strings.Repeat(" ", 10) + "x: [" + strings.Repeat("1, ", 20_000) + "]\n"
	}(), "key paths"},
	{"many comments", fill("steps: 1\n", "#\n", "", upload), "YAML tokens"},
	// A block scalar header with no content makes two tokens from one byte.
	{"empty block scalars", "s:\n" + strings.Repeat("- |\n", Default.MaxTokens*rawTokenFactor/3-2), "YAML tokens"},
	{"bare block scalars", strings.Repeat("|\n", Default.MaxTokens*rawTokenFactor/2-2), "YAML tokens"},
}

// refusals: each hostile document gets a located error.
func TestHostileDocumentsAreRefused(t *testing.T) {
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), Default)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want a limit error, got %v", err)
			}
			if !strings.Contains(e.Error(), tt.want) {
				t.Fatalf("got  %v\nwant %s", e, tt.want)
			}
		})
	}
}

// TestHostileDocumentsCostLittle is the target: a refusal costs at
// most 64 MB, counted as every byte allocated (an upper bound on the extra
// heap). Without the guard the first case alone allocates about 800 MB.
func TestHostileDocumentsCostLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	for _, tt := range hostile {
		src := []byte(tt.src)
		alloc := allocated(func() { _, _ = Parse(src, Default) })
		t.Logf("%-34s %8d bytes: %6.1f MB allocated", tt.name, len(src), float64(alloc)/1e6)
		if alloc > 64<<20 {
			t.Errorf("%s: refusing it allocated %.1f MB", tt.name, float64(alloc)/1e6)
		}
	}
}

// atLimit are documents just inside every limit: the most a document that is
// accepted can make the parser do.
func atLimit() map[string]string {
	deep := "steps: " + strings.Repeat("[", 62) + strings.Repeat("]", 62) + "\n"
	return map[string]string{
		"deep flow, repeated": "s:\n" + strings.Repeat("- "+strings.Repeat("[", 60)+strings.Repeat("]", 60)+"\n", 49_000/122),
		"deep flow":           deep,
		"wide flow sequence":  "s: [" + strings.Repeat("1,", 24_000) + "]\n",
		"wide block mapping":  "s:\n" + strings.Repeat("  a: 1\n", 2000),
		"unindented sequence": "s:\n" + strings.Repeat("- a\n", 5000) + "t: 1\n",
		"block sequence":      "s:\n" + strings.Repeat("- a\n", 24_000),
		"long keys": strings.Repeat("k", 100_000) + ":\n" + strings.Repeat("- 1\n", 35) +
			"x:\n" + strings.Repeat("- 1\n", 20_000),
		"literal 1 MiB": fill("s: |\n", "  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "", upload),
	}
}

// TestDocumentsAtTheLimitsParse: what the limits allow parses, within 64 MB
// of peak heap (sampled while the parser runs).
func TestDocumentsAtTheLimitsParse(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	for name, src := range atLimit() {
		var err error
		peak := peakHeap(func() { _, err = Parse([]byte(src), Default, parser.AllowDuplicateMapKey()) })
		t.Logf("%-22s %8d bytes: peak heap %5.1f MB", name, len(src), float64(peak)/1e6)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if peak > 64<<20 {
			t.Errorf("%s: peak heap %.1f MB", name, float64(peak)/1e6)
		}
	}
}

func TestNoAliases(t *testing.T) {
	src := "a: &x [1]\nb: *x\n"
	if err := Check([]byte(src), Default); err != nil {
		t.Fatalf("aliases refused by default: %v", err)
	}
	err := Check([]byte(src), Limits{NoAliases: true})
	if err == nil || err.Error() != "2:4: aliases (*x) are not allowed in this file: write the value out" {
		t.Fatalf("got %v", err)
	}
}

// TestBillionLaughsWithoutAliases: goccy's Decoder expands aliases with no
// limit; with NoAliases the bomb is refused before it is decoded.
func TestBillionLaughsWithoutAliases(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	src := []byte(b.String())
	if err := Check(src, Limits{NoAliases: true}); err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("got %v", err)
	}
	// What the check protects from: three levels already make 1000 values.
	var v map[string]any
	if err := yaml.Unmarshal([]byte(strings.Join(strings.Split(b.String(), "\n")[:4], "\n")), &v); err != nil {
		t.Fatal(err)
	}
	if n := len(flatten(v["a3"])); n != 10_000 {
		t.Fatalf("a3 expands to %d values", n)
	}
}

func flatten(v any) []any {
	l, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, e := range l {
		out = append(out, flatten(e)...)
	}
	return out
}

// TestOrdinaryDocumentsPass: the shapes Runbook's own files use.
func TestOrdinaryDocumentsPass(t *testing.T) {
	for _, src := range []string{
		"name: x\nglobal:\n  env: {A: 1}\nsteps:\n  - name: a\n    command: |\n      echo [[[[ {{{{\n    depends_on: [b]\n",
		"plans:\n  - {name: free, minutes: 2000, max_concurrent: 2}\n",
		"steps:\n- name: a\n  kubernetes:\n    resources:\n      limits: {cpu: '1'}\n",
		"# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\nsteps: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\n",
		"a: " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\n",
		blockNest(60),
	} {
		if _, err := Parse([]byte(src), Default); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func allocated(f func()) uint64 {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// peakHeap samples the live heap while f runs, with the collector tuned to
// run often so that the samples track what is really held.
func peakHeap(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	f()
	close(done)
	<-stopped
	if h := heapObjects(); h > peak.Load() {
		peak.Store(h)
	}
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkHostile reports what refusing each hostile shape costs (B/op);
// without the guard "flow [ 20k" allocates ~800 MB and "flow [ 100k" ~13 GB.
func BenchmarkHostile(b *testing.B) {
	for _, tt := range hostile {
		src := []byte(tt.src)
		b.Run(strings.ReplaceAll(tt.name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(src, Default); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkAtLimit reports what the largest accepted documents cost.
func BenchmarkAtLimit(b *testing.B) {
	for name, src := range atLimit() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse([]byte(src), Default, parser.AllowDuplicateMapKey()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
