// The Go baseline of the gateway benchmark (bench/gateway.js): what the Go CapiscIO core's gateway
// does per request, with the standard library only. net/http + httputil.ReverseProxy; every request's
// badge is split, its Ed25519 signature checked with crypto/ed25519 and its exp checked (no cache).
// Run with GOMAXPROCS=1.
//
//	gogateway -listen 127.0.0.1:PORT -target http://127.0.0.1:UP -key public.jwk
package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

const skewSeconds = 60

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
}

func readKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k jwk
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, err
	}
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, fmt.Errorf("%s: not an Ed25519 public JWK (kty %q, crv %q)", path, k.Kty, k.Crv)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: bad x", path)
	}
	return ed25519.PublicKey(raw), nil
}

type header struct {
	Alg string `json:"alg"`
}

type claims struct {
	Sub string   `json:"sub"`
	Exp *float64 `json:"exp"`
}

var errBadge = errors.New("invalid badge")

// verify checks one compact JWS badge: three parts, alg EdDSA, the Ed25519 signature over
// "header.payload", and exp in the future (with skew). It returns the subject.
func verify(pub ed25519.PublicKey, token string) (string, error) {
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return "", errBadge
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return "", errBadge
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return "", errBadge
	}
	h, err := base64.RawURLEncoding.DecodeString(token[:d1])
	if err != nil {
		return "", errBadge
	}
	p, err := base64.RawURLEncoding.DecodeString(token[d1+1 : d2])
	if err != nil {
		return "", errBadge
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[d2+1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", errBadge
	}
	var hd header
	if err := json.Unmarshal(h, &hd); err != nil || hd.Alg != "EdDSA" {
		return "", errBadge
	}
	if !ed25519.Verify(pub, []byte(token[:d2]), sig) {
		return "", errBadge
	}
	var c claims
	if err := json.NewDecoder(bytes.NewReader(p)).Decode(&c); err != nil || c.Exp == nil {
		return "", errBadge
	}
	if *c.Exp+skewSeconds <= float64(time.Now().Unix()) {
		return "", errBadge
	}
	return c.Sub, nil
}

func credential(r *http.Request) string {
	if b := strings.TrimSpace(r.Header.Get("X-Capiscio-Badge")); b != "" {
		return b
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

func deny(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	target := flag.String("target", "", "upstream URL, e.g. http://127.0.0.1:3000")
	keyFile := flag.String("key", "", "Ed25519 public JWK file")
	flag.Parse()
	pub, err := readKey(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	up, err := url.Parse(*target)
	if err != nil || up.Host == "" {
		log.Fatalf("bad -target %q", *target)
	}
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		deny(w, http.StatusBadGateway, "upstream unavailable")
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := credential(r)
		if token == "" {
			deny(w, http.StatusUnauthorized, "missing authorization header")
			return
		}
		sub, err := verify(pub, token)
		if err != nil {
			deny(w, http.StatusForbidden, "invalid badge")
			return
		}
		r.Header.Del("Authorization")
		r.Header.Del("X-Capiscio-Badge")
		r.Header.Set("X-Capiscio-Subject", sub)
		proxy.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.Handle("/", handler)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
