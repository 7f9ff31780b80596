package authn_test

import (
	"testing"

	"github.com/authgate/authgate/pkg/authn"
)

// TestIdentityMemo: derive gets the identity itself, once per key; the
// list behind it is tested in package memo.
func TestIdentityMemo(t *testing.T) {
	type key struct{ n int }
	id := &authn.Identity{Subject: "alice"}
	calls := 0
	derive := func(got *authn.Identity) any {
		if got != id {
			t.Error("derive got another identity")
		}
		calls++
		return got.Subject + "!"
	}
	for range 3 {
		for _, k := range []key{{1}, {2}} {
			if got := id.Memo(k, derive); got != "alice!" {
				t.Errorf("Memo(%v) = %v", k, got)
			}
		}
	}
	if calls != 2 {
		t.Errorf("derive called %d times, want 2 (once per key)", calls)
	}
}
