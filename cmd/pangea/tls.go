package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// labTLSValidity is how long the lab's generated server certificate is valid
// (a new one is minted at each start, from the same CA).
const labTLSValidity = 365 * 24 * time.Hour

// mintLeaf makes a server certificate for names and ips, signed by ca, valid
// for validity; the chain holds the CA too.
func mintLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, ips []net.IP, validity time.Duration) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	cn := "pangea"
	if len(names) > 0 {
		cn = names[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// loadServerTLS prepares the S3 endpoints' TLS: the operator's certificate
// (--tls-cert/--tls-key), or for the lab with --tls one minted from a CA kept
// in the data directory (tls/ca.pem, written to lab.json as tls_ca). Without
// either the endpoints speak plain HTTP.
func (c *Config) loadServerTLS() error {
	switch {
	case c.TLSCert != "" || c.TLSKey != "":
		if c.TLSCert == "" || c.TLSKey == "" {
			return fmt.Errorf("TLS needs both --tls-cert and --tls-key (PANGEA_TLS_CERT, PANGEA_TLS_KEY)")
		}
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("load --tls-cert %s and --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
		}
		c.serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case c.LabTLS:
		ca, caKey, caFile, err := loadOrCreateCA(filepath.Join(c.DataDir, "tls"), "Pangea lab CA")
		if err != nil {
			return fmt.Errorf("the lab's TLS CA: %w", err)
		}
		names := []string{"localhost", "*.localhost"}
		if c.BaseDomain != "" && c.BaseDomain != "localhost" {
			names = append(names, c.BaseDomain, "*."+c.BaseDomain)
		}
		cert, err := mintLeaf(ca, caKey, names, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, labTLSValidity)
		if err != nil {
			return fmt.Errorf("the lab's TLS certificate: %w", err)
		}
		c.serverTLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		c.tlsCAFile = caFile
	}
	return nil
}

// endpoint is the URL of an S3 endpoint listening on a: https when the
// endpoints speak TLS.
func (c Config) endpoint(a net.Addr) string {
	u := endpointURL(a)
	if c.serverTLS != nil {
		u = "https" + u[len("http"):]
	}
	return u
}
