package mask

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkMaskLines masks 200,000 lines of 80 bytes with 5 secrets, none
// of which occurs: the cost every step's output pays. Divide ns/op by
// 200,000 for the cost per line.
func BenchmarkMaskLines(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const printable = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_/=()[]"
	lines := make([][]byte, 200_000)
	for i := range lines {
		l := make([]byte, 80)
		for j := range l {
			l[j] = printable[r.IntN(len(printable))]
		}
		lines[i] = l
	}
	m := New("ghs_16C7e42F292c6912E7710c838347Ae178B4a", "hunter22hunter22", "AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "postgres://u:pa55@db/x")
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			buf, _ = m.Append(buf[:0], l)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(lines)), "ns/line")
	if len(buf) != 0 {
		b.Fatalf("masked a line without secrets: %q", buf)
	}
}
