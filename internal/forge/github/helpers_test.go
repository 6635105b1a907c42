package github

import (
	"encoding/base64"
	"math/big"
)

type bigInt = big.Int

func newBigInt(v int64) *big.Int { return big.NewInt(v) }

func basic(tok string) string {
	return base64.StdEncoding.EncodeToString([]byte("x-access-token:" + tok))
}
