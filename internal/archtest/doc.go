// Package archtest holds no code: its test checks the import rules of the
// module's packages (DESIGN.md, "Dependencies point inward"), so a change
// that breaks them fails `go test` instead of a review.
package archtest
