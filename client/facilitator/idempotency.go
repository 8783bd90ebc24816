package facilitator

import (
	"crypto/sha256"
	"encoding/json"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Bounds of a payment-identifier id, as x402's extension defines them.
const (
	minIDLen = 16
	maxIDLen = 128
)

// idempotencyKey returns req's payment-identifier id ("" when it sends
// none) and the digest of what it pays, so a repeated id can be told from
// a reused one.
func idempotencyKey(req *Request) (string, [sha256.Size]byte, *refusal) {
	raw, ok := req.PaymentPayload.Extensions[PaymentIdentifier]
	if !ok {
		return "", [sha256.Size]byte{}, nil
	}
	var ext struct {
		Info struct {
			ID string `json:"id"`
		} `json:"info"`
	}
	if err := json.Unmarshal(raw, &ext); err != nil {
		return "", [sha256.Size]byte{}, refuse(ReasonPayload, "extensions.%s: %v", PaymentIdentifier, err)
	}
	id := ext.Info.ID
	if id == "" {
		return "", [sha256.Size]byte{}, nil // declared, not used
	}
	if !validID(id) {
		return "", [sha256.Size]byte{}, refuse(ReasonPayload, "extensions.%s.info.id: want %d to %d of A-Z a-z 0-9 _ -", PaymentIdentifier, minIDLen, maxIDLen)
	}
	b, err := json.Marshal(struct {
		P any
		R any
		Q any
	}{req.PaymentPayload.Payload, req.PaymentPayload.Resource, req.PaymentRequirements})
	if err != nil {
		return "", [sha256.Size]byte{}, refuse(ReasonPayload, "digest: %v", err)
	}
	return id, sha256.Sum256(b), nil
}

func validID(id string) bool {
	if len(id) < minIDLen || len(id) > maxIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// idCache remembers the answers of settled payments by payment-identifier
// id, bounded (least recently used forgotten first). Safe for concurrent
// use. A forgotten id costs nothing: settling the same payment again is a
// replay, charged 0.
type idCache struct{ c *lru.Cache[string, idEntry] }

type idEntry struct {
	digest [sha256.Size]byte
	resp   SettleResponse
}

func newIDCache(n int) *idCache {
	c, err := lru.New[string, idEntry](n)
	if err != nil {
		panic(err) // n > 0, checked by New
	}
	return &idCache{c: c}
}

// get returns the answer remembered for id; same reports whether it was
// for the request of digest.
func (c *idCache) get(id string, digest [sha256.Size]byte) (resp SettleResponse, seen, same bool) {
	e, ok := c.c.Get(id)
	if !ok {
		return SettleResponse{}, false, false
	}
	return e.resp, true, e.digest == digest
}

func (c *idCache) put(id string, digest [sha256.Size]byte, resp SettleResponse) {
	c.c.Add(id, idEntry{digest: digest, resp: resp})
}
