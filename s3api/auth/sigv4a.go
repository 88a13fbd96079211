package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
)

// sigV4APadding pads SigV4A chunk and trailer signatures on the wire to a
// fixed width (the SDKs pad DER signatures to 144 hex digits with '*'), so
// that clients can compute the encoded length in advance. The padding is not
// part of the signature and is stripped before chaining.
const (
	sigV4APadding   = '*'
	sigV4APaddedLen = 144
)

// DeriveSigV4AKey derives the P-256 key pair that SigV4A signs with from an
// access key pair, as AWS SDKs do (FIPS 186-4 B.4.2 "testing candidates" with
// the NIST SP 800-108 HMAC-SHA256 counter-mode KDF): for counter = 1..255,
// k0 = HMAC-SHA256("AWS4A"||secret, 1 || label || 0x00 || accessKey ||
// counter || 256) and the first candidate c < n-2 gives d = c+1.
func DeriveSigV4AKey(accessKey, secret string) (*ecdsa.PrivateKey, error) {
	const label = "AWS4-ECDSA-P256-SHA256"
	curve := elliptic.P256()
	nMinus2 := new(big.Int).Sub(curve.Params().N, big.NewInt(2))

	// fixed input: i (4 bytes, always 1: one 256-bit PRF block suffices) ||
	// label || 0x00 || context (accessKey || counter) || L (bits, 4 bytes).
	input := make([]byte, 0, 4+len(label)+1+len(accessKey)+1+4)
	input = binary.BigEndian.AppendUint32(input, 1)
	input = append(input, label...)
	input = append(input, 0)
	input = append(input, accessKey...)
	counterAt := len(input)
	input = append(input, 0)
	input = binary.BigEndian.AppendUint32(input, 256)

	mac := hmac.New(sha256.New, []byte("AWS4A"+secret))
	c := new(big.Int)
	for counter := 1; counter <= 255; counter++ {
		input[counterAt] = byte(counter)
		mac.Reset()
		mac.Write(input)
		c.SetBytes(mac.Sum(nil))
		if c.Cmp(nMinus2) < 0 {
			d := c.Add(c, big.NewInt(1))
			raw := make([]byte, 32)
			d.FillBytes(raw)
			return ecdsa.ParseRawPrivateKey(curve, raw)
		}
	}
	return nil, errors.New("auth: no SigV4A key candidate below the curve order")
}

// trimSigV4APadding strips the '*' padding of a wire SigV4A signature.
func trimSigV4APadding(sig string) string {
	return strings.TrimRight(sig, string(sigV4APadding))
}

// verifyECDSAHex verifies a hex DER ECDSA signature over SHA-256(sts).
func verifyECDSAHex(pub *ecdsa.PublicKey, sts, sigHex string) bool {
	sig, err := hex.DecodeString(trimSigV4APadding(sigHex))
	if err != nil || len(sig) == 0 {
		return false
	}
	h := sha256.Sum256([]byte(sts))
	return ecdsa.VerifyASN1(pub, h[:], sig)
}

// signECDSAHex signs SHA-256(sts) with a fresh random nonce and returns the
// lower-case hex DER signature.
func signECDSAHex(priv *ecdsa.PrivateKey, sts string) (string, error) {
	h := sha256.Sum256([]byte(sts))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

// hexHMAC is the lower-case hex HMAC-SHA256 of data.
func hexHMAC(key []byte, data string) string {
	return hex.EncodeToString(hmacSHA256(key, data))
}
