// Package memo holds values derived once from something immutable (a
// cached identity, a compiled policy) and read by every request after. A
// List is a lock-free, insert-only list for owners that memoise a few keys
// each (an identity: its header lists and metadata; a policy: its allows
// without identity) and are kept by the tens of thousands: it is one
// pointer until used, where a sync.Map is 48 bytes and a trie node per key.
// A lookup walks the list, so it is not for many keys. A Table holds its
// keys in one block instead, for a value read on every request (table.go).
package memo

import "sync/atomic"

// List maps keys to values. The zero List is empty and ready. Values are
// shared by every reader and must not be modified once added.
type List struct {
	head atomic.Pointer[entry]
}

// entry is one memoised value; entries are never modified once published,
// so readers walk the list without a lock.
type entry struct {
	key, value any
	next       *entry
}

// Lookup returns the value added for key.
func (l *List) Lookup(key any) (any, bool) {
	return l.head.Load().find(key, nil)
}

// Add adds value for key, unless a value for key was added first: then it
// returns that one, so that concurrent first uses all end with one value.
func (l *List) Add(key, value any) any {
	head := l.head.Load()
	if v, ok := head.find(key, nil); ok {
		return v
	}
	e := &entry{key: key, value: value}
	for {
		e.next = head
		if l.head.CompareAndSwap(head, e) {
			return value
		}
		// Another key (or this one) was added meanwhile: look only at the
		// entries new since head.
		next := l.head.Load()
		if v, ok := next.find(key, head); ok {
			return v
		}
		head = next
	}
}

// Get returns the value for key, adding what derive makes the first time.
// Concurrent first calls may each derive; one value wins and all return it.
func (l *List) Get(key any, derive func() any) any {
	if v, ok := l.Lookup(key); ok {
		return v
	}
	return l.Add(key, derive())
}

// find looks key up in the list from e to stop (exclusive).
func (e *entry) find(key any, stop *entry) (any, bool) {
	for ; e != stop; e = e.next {
		if e.key == key {
			return e.value, true
		}
	}
	return nil, false
}
