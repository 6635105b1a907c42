package eventbus

import (
	"sync"
	"testing"
)

func TestSubscriberGetsNotesOfItsTopicOnly(t *testing.T) {
	b := New()
	a := b.Subscribe("run:1")
	defer a.Close()
	other := b.Subscribe("run:2")
	defer other.Close()

	b.Publish(Note{Topic: "run:1", Seq: 3})
	if n := <-a.C; n.Seq != 3 {
		t.Fatalf("got %+v", n)
	}
	select {
	case n := <-other.C:
		t.Fatalf("run:2 subscriber got %+v", n)
	default:
	}
}

func TestSlowSubscriberKeepsOnlyTheLatestNote(t *testing.T) {
	b := New()
	s := b.Subscribe("t")
	defer s.Close()
	for i := int64(1); i <= 1000; i++ {
		b.Publish(Note{Topic: "t", Seq: i})
	}
	if n := <-s.C; n.Seq != 1000 {
		t.Fatalf("got seq %d, want the latest, 1000", n.Seq)
	}
	select {
	case n := <-s.C:
		t.Fatalf("a second note was queued: %+v", n)
	default:
	}
}

func TestCloseStopsDeliveryAndForgetsTheTopic(t *testing.T) {
	b := New()
	s := b.Subscribe("t")
	s.Close()
	s.Close()
	b.Publish(Note{Topic: "t", Seq: 1})
	select {
	case n := <-s.C:
		t.Fatalf("closed subscription got %+v", n)
	default:
	}
	if len(b.subs) != 0 {
		t.Fatalf("topics left: %v", b.subs)
	}
}

func TestConcurrentPublishersNeverLoseTheLastNote(t *testing.T) {
	b := New()
	s := b.Subscribe("t")
	defer s.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				b.Publish(Note{Topic: "t", Seq: int64(i)})
			}
		}()
	}
	wg.Wait()
	b.Publish(Note{Topic: "t", Seq: 9999})
	if n := <-s.C; n.Seq != 9999 {
		t.Fatalf("after all publishers, got %+v, want the last note", n)
	}
}
