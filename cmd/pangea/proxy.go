package main

// Proxy mode: an HTTPS proxy for unmodified S3 clients (the aws CLI, boto3,
// the SDKs) that address Multi-Region Access Points and S3 Control as AWS
// does, at https://{alias}.accesspoint.s3-global.amazonaws.com and
// https://{account}.s3-control.{region}.amazonaws.com, whatever endpoint they
// are configured with. Clients set HTTPS_PROXY to the proxy and trust its CA
// (AWS_CA_BUNDLE); the proxy accepts CONNECT only for S3 and S3 Control host
// names, terminates TLS with a certificate minted for the requested host, and
// sends each request, Host header and request URI untouched, to a Pangea S3
// endpoint. Nothing is ever forwarded to the internet.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// proxyConfig configures an mrapProxy.
type proxyConfig struct {
	// Addr is the address the proxy listens on; 127.0.0.1:0 picks a port.
	Addr string
	// CADir holds ca.pem and ca-key.pem: created on first use, reused after.
	CADir string
	// Target is the Pangea S3 endpoint (e.g. http://127.0.0.1:9000) that
	// receives the decrypted requests.
	Target string
	// Logger receives refusals and proxy errors; nil discards them.
	Logger *slog.Logger
}

// Validity of the generated certificates.
const (
	proxyCAValidity   = 10 * 365 * 24 * time.Hour
	proxyLeafValidity = 365 * 24 * time.Hour
)

// mrapProxy is a running proxy; see the file comment.
type mrapProxy struct {
	ln     net.Listener
	outer  *http.Server // CONNECT front
	inner  *http.Server // serves the decrypted connections
	caFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	logger *slog.Logger

	mu     sync.Mutex
	leaves map[string]*tls.Certificate // by host name
}

// startMRAPProxy starts a proxy listening on cfg.Addr; Close stops it. The CA
// in cfg.CADir is loaded, or generated when the directory has none.
func startMRAPProxy(ctx context.Context, cfg proxyConfig) (*mrapProxy, error) {
	target, err := url.Parse(cfg.Target)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("proxy: target %q is not an http(s)://host:port URL", cfg.Target)
	}
	if cfg.CADir == "" {
		return nil, errors.New("proxy: no CA directory")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ca, caKey, caFile, err := loadOrCreateCA(cfg.CADir, "Pangea MRAP proxy CA")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &mrapProxy{ln: ln, caFile: caFile, ca: ca, caKey: caKey, logger: logger,
		leaves: make(map[string]*tls.Certificate)}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)

	// The Transport must not itself use a proxy (HTTPS_PROXY is likely set in
	// this very environment) and must pass bodies and encodings through as is.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DisableCompression = true
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.Host = pr.In.Host
		},
		Transport: tr,
		ErrorLog:  errLog,
	}
	p.inner = &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
		// HTTP/1.1 only: the TLS config offers no h2.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	p.outer = &http.Server{
		Handler:           http.HandlerFunc(p.serveProxy),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          errLog,
	}
	go func() {
		if err := p.outer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("proxy stopped", "err", err)
		}
	}()
	logger.Info("MRAP proxy listening", "url", p.URL(), "ca", caFile, "target", target.String())
	return p, nil
}

// URL is the proxy's http://host:port, for HTTPS_PROXY.
func (p *mrapProxy) URL() string { return "http://" + p.ln.Addr().String() }

// CAFile is the path of the CA certificate clients must trust (AWS_CA_BUNDLE).
func (p *mrapProxy) CAFile() string { return p.caFile }

// Close stops accepting, and closes the connections being served.
func (p *mrapProxy) Close() error {
	err := p.outer.Close()
	if err2 := p.inner.Close(); err == nil {
		err = err2
	}
	return err
}

// serveProxy answers the proxy protocol: CONNECT to an S3 host is tunnelled
// into the inner server; anything else is refused.
func (p *mrapProxy) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, "pangea MRAP proxy: only CONNECT (HTTPS) to S3 host names is supported", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	host = strings.ToLower(host)
	if err != nil || port != "443" || !isS3Host(host) {
		p.logger.Warn("proxy refused CONNECT", "host", r.Host, "client", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("pangea MRAP proxy: refusing CONNECT to %q: only port 443 of AWS S3 and S3 Control host names (*.amazonaws.com) are served, and nothing is forwarded to the internet", r.Host), http.StatusForbidden)
		return
	}
	cert, err := p.leaf(host)
	if err != nil {
		p.logger.Error("proxy could not mint a certificate", "host", host, "err", err)
		http.Error(w, "pangea MRAP proxy: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "pangea MRAP proxy: cannot hijack the connection", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		p.logger.Warn("proxy hijack", "err", err)
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	var raw net.Conn = conn
	if n := rw.Reader.Buffered(); n > 0 {
		raw = &bufferedConn{Conn: conn, r: rw.Reader}
	}
	tconn := tls.Server(raw, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{*cert},
	})
	// Serve returns once the single connection is handed out; the inner
	// server keeps serving it (keep-alive) until it ends or Close.
	_ = p.inner.Serve(&oneConnListener{conn: tconn, addr: p.ln.Addr()})
}

// leaf returns the cached certificate for host, minting it on first use.
func (p *mrapProxy) leaf(host string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.leaves[host]; ok && time.Now().Before(c.Leaf.NotAfter.Add(-time.Hour)) {
		return c, nil
	}
	c, err := mintLeaf(p.ca, p.caKey, []string{host}, nil, proxyLeafValidity)
	if err != nil {
		return nil, err
	}
	p.leaves[host] = c
	return c, nil
}

var (
	awsRegionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// isS3Host reports whether host (lower case, no port) is an AWS S3 or S3
// Control host name: s3.amazonaws.com, [bucket.]s3[.region].amazonaws.com,
// [account.]s3-control.region.amazonaws.com, or
// alias.accesspoint.s3-global.amazonaws.com (an MRAP alias such as
// mfzwi23gnjvgw.mrap).
func isS3Host(host string) bool {
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok || rest == "" {
		return false
	}
	labels := strings.Split(rest, ".")
	for _, l := range labels {
		if !dnsLabelRE.MatchString(l) {
			return false
		}
	}
	n := len(labels)
	switch {
	case n >= 3 && labels[n-2] == "accesspoint" && labels[n-1] == "s3-global":
		return true // {alias}.accesspoint.s3-global
	case labels[n-1] == "s3":
		return true // s3, {bucket}.s3
	case n >= 2 && labels[n-2] == "s3" && awsRegionRE.MatchString(labels[n-1]):
		return true // s3.{region}, {bucket}.s3.{region}
	case n >= 2 && n <= 3 && labels[n-2] == "s3-control" && awsRegionRE.MatchString(labels[n-1]):
		return true // [{account}.]s3-control.{region}
	}
	return false
}

// loadOrCreateCA reads ca.pem and ca-key.pem from dir, or creates them (the
// key readable by its owner only, the certificate named commonName) when
// neither exists. Proxy mode and the lab's --tls each keep one.
func loadOrCreateCA(dir, commonName string) (*x509.Certificate, *ecdsa.PrivateKey, string, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, errC := os.ReadFile(certFile)
	keyPEM, errK := os.ReadFile(keyFile)
	switch {
	case errC == nil && errK == nil:
		ca, key, err := parseCA(certPEM, keyPEM)
		if err != nil {
			return nil, nil, "", fmt.Errorf("CA in %s: %w", dir, err)
		}
		return ca, key, certFile, nil
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
	default:
		return nil, nil, "", fmt.Errorf("CA in %s: need both ca.pem and ca-key.pem (remove the one left to make a new CA): %w", dir, errors.Join(errC, errK))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, "", fmt.Errorf("CA in %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Pangea"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(proxyCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, "", err
	}
	// The key first: a ca.pem without its key would be unusable.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, "", err
	}
	if err := writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, "", err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, "", err
	}
	return ca, key, certFile, nil
}

// parseCA decodes a PEM CA certificate and its PKCS#8 ECDSA key.
func parseCA(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, errors.New("ca-key.pem is not the ECDSA key of ca.pem")
	}
	if !ca.IsCA {
		return nil, nil, errors.New("ca.pem is not a CA certificate")
	}
	return ca, key, nil
}

func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// bufferedConn is a hijacked connection whose first bytes were already read
// into the server's buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// oneConnListener hands out one connection, then reports itself closed.
type oneConnListener struct {
	mu   sync.Mutex
	conn net.Conn // nil once accepted
	addr net.Addr
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil, net.ErrClosed
	}
	c := l.conn
	l.conn = nil
	return c, nil
}

// Close closes the connection if it was never accepted (the server was
// already shut down).
func (l *oneConnListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
