package github

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// parseKey reads the app's RSA private key. Every failure says where the
// key came from (src: a file path or an env var name) and what is wrong
// with it, and never quotes the key.
func parseKey(src string, data []byte) (*rsa.PrivateKey, error) {
	bad := func(problem string) error {
		return &AppError{Kind: ErrBadKey, Msg: fmt.Sprintf("GitHub App private key %s: %s", src, problem)}
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, bad("is empty; download a private key (.pem) from the GitHub App's settings")
	}
	// A PEM pasted into an env var or a YAML string often keeps "\n" as
	// two characters, leaving one long line.
	if !bytes.Contains(data, []byte("\n")) && bytes.Contains(data, []byte(`\n`)) {
		return nil, bad(`holds literal "\n" sequences instead of line breaks (a PEM pasted into one line); put the real multi-line PEM in the variable, or point to the .pem file instead`)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		if bytes.Contains(data, []byte("-----BEGIN")) {
			return nil, bad("is truncated: its PEM block has no matching -----END line; copy the whole .pem file")
		}
		return nil, bad("is not PEM: expected a block starting with -----BEGIN RSA PRIVATE KEY-----, as in the .pem file GitHub gives")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, bad("is truncated or corrupt: its RSA key does not parse; copy the whole .pem file again")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, bad("is truncated or corrupt: its PKCS #8 key does not parse; copy the whole .pem file again")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, bad(fmt.Sprintf("is a %T key; GitHub Apps sign with RSA keys: download one from the app's settings", k))
		}
		return rk, nil
	case "EC PRIVATE KEY":
		return nil, bad("is an EC key; GitHub Apps sign with RSA keys: download one from the app's settings")
	case "OPENSSH PRIVATE KEY":
		return nil, bad("is an OpenSSH key; GitHub Apps sign with RSA keys: download one from the app's settings")
	case "CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, bad(fmt.Sprintf("is a %s, not a private key: download a private key from the app's settings", lower(block.Type)))
	case "ENCRYPTED PRIVATE KEY":
		return nil, bad("is encrypted; use the unencrypted .pem file GitHub gives")
	}
	return nil, bad(fmt.Sprintf("holds a %q PEM block, not an RSA private key", block.Type))
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }
