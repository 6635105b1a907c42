package store

import "time"

// Options are the settings both drivers share.
type Options struct {
	// Now is the store's clock: lease times, availability, and the time of
	// events and runs that come without one. All times come from it (never
	// the database server's clock) so both drivers behave alike and tests
	// can move time.
	Now func() time.Time
	// CacheSize bounds how many runs' parsed workflows and states Apply
	// keeps (see RunCache); a large workflow's entry can take 100s of KB.
	CacheSize int
}

// Option changes Options.
type Option func(*Options)

// WithClock sets the store's clock.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// WithCacheSize sets how many runs Apply keeps decoded (default 256).
func WithCacheSize(n int) Option { return func(o *Options) { o.CacheSize = n } }

// ApplyOptions returns the defaults overridden by opts.
func ApplyOptions(opts ...Option) Options {
	o := Options{Now: time.Now, CacheSize: 256}
	for _, f := range opts {
		f(&o)
	}
	// Both databases keep microseconds in UTC; so does the clock, so what
	// a caller is given equals what it reads back.
	now := o.Now
	o.Now = func() time.Time { return now().UTC().Truncate(time.Microsecond) }
	return o
}
