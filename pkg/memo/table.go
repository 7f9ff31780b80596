package memo

import (
	"sync/atomic"
	"unsafe"
)

// Table maps keys of one type to values, like List, for a value read on
// every request from an owner whose memory is likely cold (a compiled
// policy among thousands): its entries live in one block, copied whole
// when a key is added, so a lookup reads one run of memory however many
// keys there are, and compares keys as K, without making an interface of
// them (which allocates for a key that is not pointer-shaped). The zero
// Table is empty and ready. Values are shared by every reader and must not
// be modified once added.
type Table[K comparable] struct {
	first atomic.Pointer[tableEntry[K]]
}

// tableEntry is one key of a Table's block.
type tableEntry[K comparable] struct {
	// n is the number of entries in the block; every entry holds it, so
	// that a pointer to the first one is the whole block.
	n     int
	key   K
	value any
}

// Get returns the value for key, adding what derive makes the first time.
// Concurrent first calls may each derive; one value wins and all return it.
func (t *Table[K]) Get(key K, derive func() any) any {
	first := t.first.Load()
	if v, ok := find(first, key); ok {
		return v
	}
	v := derive()
	for {
		n := 0
		if first != nil {
			n = first.n
		}
		block := make([]tableEntry[K], n+1)
		if first != nil {
			copy(block, unsafe.Slice(first, n))
		}
		block[n] = tableEntry[K]{key: key, value: v}
		for i := range block {
			block[i].n = n + 1
		}
		if t.first.CompareAndSwap(first, &block[0]) {
			return v
		}
		// Another key (or this one) was added meanwhile.
		first = t.first.Load()
		if found, ok := find(first, key); ok {
			return found
		}
	}
}

func find[K comparable](first *tableEntry[K], key K) (any, bool) {
	if first == nil {
		return nil, false
	}
	block := unsafe.Slice(first, first.n)
	for i := range block {
		if block[i].key == key {
			return block[i].value, true
		}
	}
	return nil, false
}
