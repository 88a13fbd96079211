package awsclient_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/pangea-s3/pangea/s3api/awsclient"
)

// Unmodified code using an MRAP ARN and S3 Control, pointed at a Pangea
// endpoint. The stand-in endpoint here prints what reaches it.
func ExampleOptions() {
	pangea := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h // the test server's port varies
		}
		fmt.Println(r.Method, host, r.URL.Path, scheme)
		w.Header().Set("Content-Type", "application/xml")
		if strings.HasPrefix(r.URL.Path, "/v20180820/") {
			fmt.Fprint(w, `<ListMultiRegionAccessPointsResult><AccessPoints></AccessPoints></ListMultiRegionAccessPointsResult>`)
		}
	}))
	defer pangea.Close()

	s3Opt, controlOpt, err := awsclient.Options(pangea.URL) // e.g. http://127.0.0.1:9000
	if err != nil {
		log.Fatal(err)
	}
	cfg := aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
	ctx := context.Background()
	s3c := s3.NewFromConfig(cfg, s3Opt)
	ctl := s3control.NewFromConfig(cfg, controlOpt)

	// Through the MRAP: the global host, signed with SigV4A.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("arn:aws:s3::000000000000:accesspoint/mfzwi23gnjvgw.mrap"),
		Key:    aws.String("hello.txt"), Body: strings.NewReader("hello"),
	}); err != nil {
		log.Fatal(err)
	}
	// An ordinary bucket: path style at the endpoint, SigV4.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("my-bucket"), Key: aws.String("hello.txt"), Body: strings.NewReader("hello"),
	}); err != nil {
		log.Fatal(err)
	}
	// S3 Control: the account's host.
	if _, err := ctl.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{
		AccountId: aws.String("000000000000"),
	}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// PUT mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com /hello.txt AWS4-ECDSA-P256-SHA256
	// PUT 127.0.0.1 /my-bucket/hello.txt AWS4-HMAC-SHA256
	// GET 000000000000.s3-control.us-west-2.amazonaws.com /v20180820/mrap/instances AWS4-HMAC-SHA256
}

// HTTPClient as the aws.Config HTTP client: every client built from the
// config reaches the endpoint, each request keeping the host it was signed
// for.
func ExampleHTTPClient() {
	pangea := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.Host, r.URL.Path)
	}))
	defer pangea.Close()

	hc, err := awsclient.HTTPClient(pangea.URL, nil)
	if err != nil {
		log.Fatal(err)
	}
	cfg := aws.Config{
		Region:      "us-west-2",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  hc,
	}
	if _, err := s3.NewFromConfig(cfg).DeleteObject(context.Background(), &s3.DeleteObjectInput{
		Bucket: aws.String("arn:aws:s3::000000000000:accesspoint/mfzwi23gnjvgw.mrap"),
		Key:    aws.String("old.txt"),
	}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// DELETE mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com /old.txt
}
