package account

import (
	"net/netip"
	"sync"
	"time"
)

// Limit allows Burst failed logins, refilled evenly over Per.
type Limit struct {
	Burst int
	Per   time.Duration
}

// The default limits: 5 failures per identifier and 50 per client address
// per 15 minutes. A per-identifier limit lets anyone slow a victim's logins
// down to one try every 3 minutes, never lock them out.
var (
	DefaultAccountLimit = Limit{Burst: 5, Per: 15 * time.Minute}
	DefaultIPLimit      = Limit{Burst: 50, Per: 15 * time.Minute}
)

// sweepAt bounds memory: past this many keys, refilled buckets are dropped.
const sweepAt = 10_000

// limiter is an in-memory token bucket per key. One server only: replicas
// would each allow the burst (docs/adr/0007-accounts.md).
type limiter struct {
	mu      sync.Mutex
	lim     Limit
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(lim Limit, now func() time.Time) *limiter {
	return &limiter{lim: lim, now: now, buckets: map[string]*bucket{}}
}

func (l *limiter) rate() float64 { return float64(l.lim.Burst) / l.lim.Per.Seconds() } // tokens per second

// refill returns key's bucket as of now; it is not stored.
func (l *limiter) refill(b *bucket, now time.Time) float64 {
	t := b.tokens + now.Sub(b.at).Seconds()*l.rate()
	return min(t, float64(l.lim.Burst))
}

// take spends one try for key, or returns how long until one is available.
// Spending before the attempt keeps concurrent attempts within the limit.
func (l *limiter) take(key string) time.Duration {
	if l.lim.Burst <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= sweepAt {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.lim.Burst), at: now}
		l.buckets[key] = b
	}
	t := l.refill(b, now)
	if t < 1 {
		return time.Duration((1 - t) / l.rate() * float64(time.Second))
	}
	b.tokens, b.at = t-1, now
	return 0
}

// give returns the try spent by take (a successful login).
func (l *limiter) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		now := l.now()
		b.tokens, b.at = min(l.refill(b, now)+1, float64(l.lim.Burst)), now
	}
}

// reset forgets key (a successful login clears an account's failures).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now) >= float64(l.lim.Burst) {
			delete(l.buckets, k)
		}
	}
}

// ipKey groups IPv6 clients by /64, what one host usually holds.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err := netip.ParseAddrPort(ip) // a RemoteAddr with its port
		if err != nil {
			return "?" + ip
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
