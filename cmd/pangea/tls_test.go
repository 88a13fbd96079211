package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pangea-s3/pangea/routing/topology"
)

// TestLab_TLS: pangea lab --tls serves every S3 endpoint (members and edges)
// over HTTPS with a certificate from the CA in the data directory, which
// lab.json names; aws-sdk-go-v2 trusting that CA writes and reads through an
// edge; HTTP/2 is offered; a client that does not trust the CA is refused; the
// CA is the same after a restart on the same data.
func TestLab_TLS(t *testing.T) {
	topo, err := topology.Parse([]byte(twoFar))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.NoFsync, cfg.LabTLS = t.TempDir(), "127.0.0.1:0", true, true
	cfg.ClusterSecret = "tls-test-secret"
	if err := cfg.loadServerTLS(); err != nil {
		t.Fatal(err)
	}
	pl, err := startPlanet(t.Context(), cfg, topo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.stop)
	lf := pl.labFile(cfg)
	for _, u := range append([]string{lf.Edges[0].URL}, lf.Endpoints.Regions["ra"]...) {
		if !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Fatalf("endpoint %s is not https", u)
		}
	}
	pemBytes, err := os.ReadFile(cfg.tlsCAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("the CA file holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	hc := &http.Client{Transport: tr}
	c := s3.NewFromConfig(aws.Config{Region: "ra", Credentials: credentials.NewStaticCredentialsProvider(lf.AccessKey, lf.SecretKey, ""),
		HTTPClient: hc, RetryMaxAttempts: 1}, func(o *s3.Options) { o.UsePathStyle, o.BaseEndpoint = true, aws.String(lf.Edges[0].URL) })
	replBucket(t, c, "secure", "ra")
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("secure"), Key: aws.String("k"), Body: strings.NewReader("over tls")}); err != nil {
		t.Fatalf("PUT over HTTPS: %v", err)
	}
	if b, err := mrapGet(t.Context(), c, "secure", "k"); err != nil || b != "over tls" {
		t.Fatalf("GET over HTTPS: %q %v", b, err)
	}
	resp, err := hc.Get(lf.Edges[0].URL + "/_pangea/health/live")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("health over %s, want HTTP/2 offered", resp.Proto)
	}
	if _, err := http.Get(lf.Edges[0].URL + "/_pangea/health/live"); err == nil {
		t.Fatal("a client that does not trust the lab's CA was served")
	}
	again := cfg
	again.serverTLS = nil
	if err := again.loadServerTLS(); err != nil || again.tlsCAFile != cfg.tlsCAFile {
		t.Fatalf("second load: %v, CA %s", err, again.tlsCAFile)
	}
	if b, _ := os.ReadFile(again.tlsCAFile); string(b) != string(pemBytes) {
		t.Fatal("the CA changed across loads on the same data")
	}
}
