// Package awsclient points unmodified aws-sdk-go-v2 code at a Pangea
// endpoint, Multi-Region Access Point (MRAP) ARNs and S3 Control included.
//
// The SDKs send every request made with an MRAP ARN as the bucket to
// https://{alias}.accesspoint.s3-global.amazonaws.com, signed with SigV4A,
// and every S3 Control request to
// https://{account}.s3-control.{region}.amazonaws.com: the endpoint rules
// ignore a configured endpoint (BaseEndpoint) for both. Pangea serves such
// requests whatever connection they arrive on, as long as they keep the Host
// they were signed for. This package supplies the one missing piece: an HTTP
// client that, after the SDK has signed a request, sends it to the Pangea
// endpoint with its signed Host header unchanged.
//
// Which to use:
//
//   - Options is what most programs want: pass its two functions to
//     s3.NewFromConfig and s3control.NewFromConfig. Ordinary bucket requests
//     then go path-style to the endpoint (as with BaseEndpoint and
//     UsePathStyle), while ARN and S3 Control requests keep the AWS host they
//     were signed for and travel to the endpoint. Setting UsePathStyle
//     yourself would make the SDK reject ARN buckets ("Path-style addressing
//     cannot be used with ARN buckets"); Options avoids that by choosing the
//     addressing per request.
//   - HTTPClient is the lower-level piece for aws.Config.HTTPClient, when
//     every client built from that config should reach the endpoint and you
//     do not want to touch per-service options. Requests keep the AWS host
//     the SDK chose: ARN and S3 Control requests work as above, but ordinary
//     bucket requests arrive virtual-hosted (Host
//     bucket.s3.us-west-2.amazonaws.com, path /key), which Pangea reads as
//     such only when its base domain is s3.{region}.amazonaws.com; otherwise
//     use Options, or keep ordinary buckets on a second client with
//     BaseEndpoint and UsePathStyle.
//
// Neither helps presigned URLs, which name the AWS host and are fetched by
// whoever holds them; for those, or for programs in other languages, run
// Pangea's HTTPS proxy mode (see docs/mrap-clients.md).
package awsclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// HTTPClient returns a client that sends every request to endpoint (the
// scheme and host of a URL such as http://127.0.0.1:9000) while keeping the
// request's Host header, so a request the SDK signed for an AWS host name
// reaches Pangea with its signature intact. The returned client copies base
// (nil means http.DefaultClient) and wraps its Transport (nil means
// http.DefaultTransport).
func HTTPClient(endpoint string, base *http.Client) (*http.Client, error) {
	target, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultClient
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = redirectTransport{target: target, base: rt}
	return &c, nil
}

// Options returns option functions for s3.NewFromConfig (or s3.New) and
// s3control.NewFromConfig (or s3control.New) that make the clients reach
// endpoint, a URL such as http://127.0.0.1:9000:
//
//   - S3 requests naming an ordinary bucket, and ListBuckets, are addressed
//     path-style to endpoint: http://127.0.0.1:9000/bucket/key.
//   - S3 requests whose bucket is an ARN (an MRAP's
//     arn:aws:s3::{account}:accesspoint/{alias}) are addressed and signed as
//     AWS would (the global MRAP host, SigV4A) and then sent to endpoint with
//     that Host.
//   - S3 Control requests are addressed and signed for
//     {account}.s3-control.{region}.amazonaws.com and sent to endpoint with
//     that Host. A BaseEndpoint set on the S3 Control client is ignored: it
//     would put the account in front of the endpoint's host name.
//
// The functions wrap whatever HTTP client and endpoint resolver the options
// already hold, so pass them after options that set those.
func Options(endpoint string) (func(*s3.Options), func(*s3control.Options), error) {
	target, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, nil, err
	}
	ep := target.String()
	s3Opt := func(o *s3.Options) {
		o.HTTPClient = redirectDoer{target: target, base: orDefaultDoer(o.HTTPClient)}
		next := o.EndpointResolverV2
		if next == nil {
			next = s3.NewDefaultEndpointResolverV2()
		}
		o.EndpointResolverV2 = s3Resolver{endpoint: ep, next: next}
	}
	controlOpt := func(o *s3control.Options) {
		o.HTTPClient = redirectDoer{target: target, base: orDefaultDoer(o.HTTPClient)}
		next := o.EndpointResolverV2
		if next == nil {
			next = s3control.NewDefaultEndpointResolverV2()
		}
		o.EndpointResolverV2 = controlResolver{next: next}
	}
	return s3Opt, controlOpt, nil
}

// parseEndpoint accepts http(s)://host[:port] with no path, query or user.
func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("awsclient: endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("awsclient: endpoint %q is not an http(s)://host[:port] URL", endpoint)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("awsclient: endpoint %q must have no path, query or user", endpoint)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// redirected returns a copy of r that travels to target but carries r's
// Host header.
func redirected(r *http.Request, target *url.URL) *http.Request {
	out := r.Clone(r.Context())
	if out.Host == "" {
		out.Host = r.URL.Host
	}
	out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
	return out
}

// redirectTransport is the RoundTripper HTTPClient installs.
type redirectTransport struct {
	target *url.URL
	base   http.RoundTripper
}

func (t redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(redirected(r, t.target))
}

// doer is what the SDK clients need of an HTTP client (s3.HTTPClient,
// s3control.HTTPClient).
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

func orDefaultDoer(d doer) doer {
	if d == nil {
		return http.DefaultClient
	}
	return d
}

// redirectDoer is the HTTP client Options installs: it wraps the client the
// options held, keeping its transport settings.
type redirectDoer struct {
	target *url.URL
	base   doer
}

func (d redirectDoer) Do(r *http.Request) (*http.Response, error) {
	return d.base.Do(redirected(r, d.target))
}

// s3Resolver addresses ordinary buckets path-style at the endpoint and leaves
// ARN buckets to the SDK's rules with no custom endpoint (their AWS hosts).
type s3Resolver struct {
	endpoint string
	next     s3.EndpointResolverV2
}

func (r s3Resolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	if p.Bucket != nil && arn.IsARN(*p.Bucket) {
		p.Endpoint = nil
		p.ForcePathStyle = aws.Bool(false)
	} else {
		p.Endpoint = aws.String(r.endpoint)
		p.ForcePathStyle = aws.Bool(true)
	}
	return r.next.ResolveEndpoint(ctx, p)
}

// controlResolver resolves S3 Control requests to their AWS hosts, ignoring
// a custom endpoint.
type controlResolver struct {
	next s3control.EndpointResolverV2
}

func (r controlResolver) ResolveEndpoint(ctx context.Context, p s3control.EndpointParameters) (smithyendpoints.Endpoint, error) {
	p.Endpoint = nil
	return r.next.ResolveEndpoint(ctx, p)
}

// Compile-time checks that the wrappers fit the SDK's interfaces.
var (
	_ s3.HTTPClient                = redirectDoer{}
	_ s3control.HTTPClient         = redirectDoer{}
	_ s3.EndpointResolverV2        = s3Resolver{}
	_ s3control.EndpointResolverV2 = controlResolver{}
)
