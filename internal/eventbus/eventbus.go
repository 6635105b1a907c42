// Package eventbus tells the server's live readers that something changed.
// It carries notifications, not data: a subscriber that hears "run 7 moved to
// seq 42" reads the events from the store. So a slow reader never holds up a
// writer, a missed notification is recovered by the next read, and a Postgres
// LISTEN/NOTIFY fan-out between replicas can feed the same Bus later.
package eventbus

import (
	"strconv"
	"sync"
)

// Note says that a topic advanced; Seq is the newest sequence number known
// to the publisher (the run's last event, say).
type Note struct {
	Topic string
	Seq   int64
}

// Bus fans notes out to subscribers of a topic. The zero value is not
// usable; call New.
type Bus struct {
	mu    sync.Mutex
	subs  map[string]map[*Subscription]struct{}
	relay Relay
}

// Relay carries the notes published on this bus to the buses of other
// processes (eventbus/pgnotify does it with Postgres LISTEN/NOTIFY), which
// hand them to their subscribers with Deliver.
type Relay interface {
	// Send must not block: Publish calls it with the bus locked.
	Send(Note)
}

// SetRelay makes every later Publish also go to r. nil stops relaying.
func (b *Bus) SetRelay(r Relay) {
	b.mu.Lock()
	b.relay = r
	b.mu.Unlock()
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[string]map[*Subscription]struct{}{}} }

// Subscription receives the notes of one topic on C. C holds only the
// latest note: when the subscriber is slow, older notes are replaced, never
// queued, so memory stays bounded whatever the publish rate.
type Subscription struct {
	C     <-chan Note
	c     chan Note
	bus   *Bus
	topic string
}

// Subscribe starts receiving notes of topic. Call Close when done.
func (b *Bus) Subscribe(topic string) *Subscription {
	c := make(chan Note, 1)
	s := &Subscription{C: c, c: c, bus: b, topic: topic}
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = map[*Subscription]struct{}{}
	}
	b.subs[topic][s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close stops the subscription. It is safe to call twice.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if set := s.bus.subs[s.topic]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(s.bus.subs, s.topic)
		}
	}
}

// Publish notifies every subscriber of n.Topic, and the relay if one is
// set. It never blocks.
func (b *Bus) Publish(n Note) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver(n)
	if b.relay != nil {
		b.relay.Send(n)
	}
}

// Deliver notifies this bus's subscribers of n.Topic without relaying it:
// for a note that came from another process.
func (b *Bus) Deliver(n Note) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver(n)
}

// DeliverAll sends every subscriber a note with Seq 0 ("read after your
// last"): after a relay reconnects, notes of other processes may have been
// missed, and a reader that re-reads loses nothing.
func (b *Bus) DeliverAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for topic := range b.subs {
		b.deliver(Note{Topic: topic})
	}
}

func (b *Bus) deliver(n Note) {
	for s := range b.subs[n.Topic] {
		select {
		case s.c <- n:
		default:
			// Replace the pending note with the newer one.
			select {
			case <-s.c:
			default:
			}
			select {
			case s.c <- n:
			default:
			}
		}
	}
}

// RunTopic is the topic of a run's changes: the scheduler publishes on it
// after every event it logs, and live readers of the run subscribe to it.
func RunTopic(runID int64) string { return "run/" + strconv.FormatInt(runID, 10) }

// TenantTopic is the topic of a tenant's runs as a list: the scheduler
// publishes on it when a run is created and when one ends (Seq is the run's
// id), and the tenant-wide stream of the runs list subscribes to it.
func TenantTopic(tenantID int64) string { return "tenant/" + strconv.FormatInt(tenantID, 10) }
