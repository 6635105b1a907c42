package server

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"
)

// memberTTL is how long a positive membership check is reused. Removing a
// member therefore takes up to this long to apply to requests that are
// already authenticated; it saves a database read on nearly every request.
const memberTTL = 5 * time.Second

type memberKey struct{ user, tenant int64 }

type runKey struct{ tenant, run int64 }

// caches hold what the API may serve without the database.
type caches struct {
	members *expirable.LRU[memberKey, struct{}]
	// ended holds the encoded JSON of runs that have ended: they never
	// change again, and a finished run is what CI pages and badges ask for
	// most.
	ended *lru.Cache[runKey, []byte]
	// checks merges concurrent membership checks of one key.
	checks singleflight.Group
}

func newCaches() *caches {
	ended, err := lru.New[runKey, []byte](2048)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &caches{members: expirable.NewLRU[memberKey, struct{}](8192, nil, memberTTL), ended: ended}
}
