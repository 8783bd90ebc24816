package provider

import (
	"testing"

	"github.com/micropay/micropay/client/store"
)

// The queue of triggered warrants gives revoked ones first, earliest
// deadline first, then the others in order of arrival; a warrant queued
// twice comes once, at its most urgent.
func TestDueQueueOrder(t *testing.T) {
	w := func(name string) *warrant { return &warrant{id: store.WarrantID{Payer: name}} }
	a, b, c, d := w("a"), w("b"), w("c"), w("d")
	q := newDueQueue()
	q.push(a, 0)
	q.push(b, 200)
	q.push(d, 0)
	q.push(c, 100)
	q.push(a, 50)  // a is revoked now: it moves up
	q.push(b, 300) // a later deadline does not move b down
	q.push(d, 0)   // d is queued already
	var got []string
	for {
		e, ok := q.pop(false)
		if !ok {
			break
		}
		got = append(got, e.w.id.Payer)
	}
	want := []string{"a", "c", "b", "d"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
	if q.len() != 0 {
		t.Fatalf("%d left queued", q.len())
	}
	q.push(d, 0)
	if _, ok := q.pop(true); ok {
		t.Fatal("urgentOnly popped a warrant not revoked")
	}
	if e, ok := q.pop(false); !ok || e.w != d {
		t.Fatal("the warrant not revoked was lost")
	}
}
