// keytool: an independent implementation of cosign's key file format for scratchpack's
// tests, on Go's standard library and golang.org/x/crypto (scrypt, nacl/secretbox), the
// packages cosign itself builds on. Written for the tests from the format's description.
//
//	keytool seal N KEYFILE PUBFILE     new P-256 key; KEYFILE sealed with $PASSWORD
//	keytool open KEYFILE               decrypt KEYFILE with $PASSWORD, print its public key PEM
//	keytool verify PUBFILE PAYLOAD SIG check a base64 ASN.1 ECDSA signature over PAYLOAD
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

type params struct {
	N int `json:"N"`
	R int `json:"r"`
	P int `json:"p"`
}

type kdf struct {
	Name   string `json:"name"`
	Params params `json:"params"`
	Salt   []byte `json:"salt"`
}

type cipher struct {
	Name  string `json:"name"`
	Nonce []byte `json:"nonce"`
}

type sealed struct {
	KDF        kdf    `json:"kdf"`
	Cipher     cipher `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "keytool: "+format+"\n", args...)
	os.Exit(1)
}

func boxKey(password []byte, salt []byte, p params) *[32]byte {
	derived, err := scrypt.Key(password, salt, p.N, p.R, p.P, 32)
	if err != nil {
		fail("scrypt: %v", err)
	}
	var key [32]byte
	copy(key[:], derived)
	return &key
}

func seal(n int, keyFile, pubFile string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("%v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		fail("%v", err)
	}
	doc := sealed{KDF: kdf{Name: "scrypt", Params: params{N: n, R: 8, P: 1}, Salt: make([]byte, 32)},
		Cipher: cipher{Name: "nacl/secretbox", Nonce: make([]byte, 24)}}
	rand.Read(doc.KDF.Salt)
	rand.Read(doc.Cipher.Nonce)
	var nonce [24]byte
	copy(nonce[:], doc.Cipher.Nonce)
	doc.Ciphertext = secretbox.Seal(nil, der, &nonce, boxKey([]byte(os.Getenv("PASSWORD")), doc.KDF.Salt, doc.KDF.Params))
	body, _ := json.Marshal(doc)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: os.Getenv("PEM_TYPE"), Bytes: body})
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if os.WriteFile(keyFile, keyPEM, 0o600) != nil || os.WriteFile(pubFile, pubPEM, 0o644) != nil {
		fail("cannot write the key files")
	}
}

func open(keyFile string) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		fail("%v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
		fail("not an ENCRYPTED SIGSTORE PRIVATE KEY")
	}
	var doc sealed
	if err := json.Unmarshal(block.Bytes, &doc); err != nil {
		fail("json: %v", err)
	}
	if doc.KDF.Name != "scrypt" || doc.Cipher.Name != "nacl/secretbox" || len(doc.Cipher.Nonce) != 24 {
		fail("unexpected kdf or cipher: %+v %+v", doc.KDF, doc.Cipher)
	}
	var nonce [24]byte
	copy(nonce[:], doc.Cipher.Nonce)
	der, ok := secretbox.Open(nil, doc.Ciphertext, &nonce, boxKey([]byte(os.Getenv("PASSWORD")), doc.KDF.Salt, doc.KDF.Params))
	if !ok {
		fail("decryption failed")
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		fail("pkcs8: %v", err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.(*ecdsa.PrivateKey).PublicKey)
	os.Stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	fmt.Printf("params N=%d r=%d p=%d salt=%d nonce=%d\n", doc.KDF.Params.N, doc.KDF.Params.R,
		doc.KDF.Params.P, len(doc.KDF.Salt), len(doc.Cipher.Nonce))
}

func verify(pubFile, payloadFile, sig string) {
	data, _ := os.ReadFile(pubFile)
	block, _ := pem.Decode(data)
	if block == nil {
		fail("no PEM in %s", pubFile)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fail("%v", err)
	}
	payload, _ := os.ReadFile(payloadFile)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		fail("signature: %v", err)
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), sum[:], raw) {
		fail("signature does not verify")
	}
	fmt.Println("verified")
}

func main() {
	switch {
	case len(os.Args) == 5 && os.Args[1] == "seal":
		n, _ := strconv.Atoi(os.Args[2])
		seal(n, os.Args[3], os.Args[4])
	case len(os.Args) == 3 && os.Args[1] == "open":
		open(os.Args[2])
	case len(os.Args) == 5 && os.Args[1] == "verify":
		verify(os.Args[2], os.Args[3], os.Args[4])
	default:
		fail("usage: keytool seal N KEY PUB | open KEY | verify PUB PAYLOAD SIG")
	}
}
