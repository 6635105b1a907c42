package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Hasher hashes and checks passwords. Hash strings carry their parameters,
// so stored hashes keep verifying after the parameters change.
type Hasher interface {
	Hash(password string) (string, error)
	// Verify reports whether password matches encoded, in time that does
	// not depend on where they differ.
	Verify(password, encoded string) (bool, error)
	// NeedsRehash reports whether encoded was made with other parameters.
	NeedsRehash(encoded string) bool
}

// Argon2id is the default Hasher, writing PHC strings:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
type Argon2id struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2id is OWASP's recommended minimum (2025): 19 MiB, 2 passes,
// 1 lane; about 30 ms on one core of the CI machine.
var DefaultArgon2id = Argon2id{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// Bounds on parameters read back from a stored hash: a corrupted row
	// must not make one login allocate gigabytes.
	maxMemory = 1 << 20 // 1 GiB
	maxTime   = 16
)

var b64 = base64.RawStdEncoding

// Hash implements Hasher.
func (a Argon2id) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: drawing a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, a.Time, a.Memory, a.Threads, keyLen)
	releaseSoon()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.Memory, a.Time, a.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify implements Hasher.
func (a Argon2id) Verify(password, encoded string) (bool, error) {
	p, salt, key, err := parseArgon2id(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	releaseSoon()
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash implements Hasher.
func (a Argon2id) NeedsRehash(encoded string) bool {
	p, _, key, err := parseArgon2id(encoded)
	return err != nil || p != a || len(key) != keyLen
}

// errBadHash never includes the hash: it is a secret too.
var errBadHash = errors.New("account: a stored password hash is not a valid argon2id string")

func parseArgon2id(encoded string) (Argon2id, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2id{}, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Argon2id{}, nil, nil, errBadHash
	}
	var p Argon2id
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > maxTime || p.Threads == 0 {
		return Argon2id{}, nil, nil, errBadHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return Argon2id{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// releasing is set while a memory release is scheduled.
var releasing atomic.Bool

// releaseSoon hands argon2id's working memory (19 MiB a hash) back to the
// OS a second after a burst of hashing. Left to the runtime, a server that
// has seen one login keeps that memory resident for minutes; logins are
// rare and rate-limited, so one forced collection after them costs little.
func releaseSoon() {
	if releasing.CompareAndSwap(false, true) {
		time.AfterFunc(time.Second, func() {
			releasing.Store(false)
			debug.FreeOSMemory()
		})
	}
}
