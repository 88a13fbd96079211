package s3api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/pangea-s3/pangea/s3api/auth"
	"github.com/pangea-s3/pangea/storage"
)

// fakeControl is an in-memory MRAPControl: operations complete after
// describesToFinish describes of them, and the regions of a bucket are read
// from bucketRegion. It records every call; fail, when set, is returned by
// every call.
type fakeControl struct {
	mu                sync.Mutex
	mraps             map[string]storage.MRAP // by name
	ops               map[string]*storage.MRAPOperation
	describes         map[string]int
	byToken           map[string]string // client token -> token ARN
	calls             []string
	routes            [][]storage.MRAPRoute
	fail              error
	describesToFinish int
	seq               int
}

func newFakeControl() *fakeControl {
	return &fakeControl{mraps: map[string]storage.MRAP{}, ops: map[string]*storage.MRAPOperation{},
		describes: map[string]int{}, byToken: map[string]string{}, describesToFinish: 2}
}

// bucketRegion places the test buckets: the region is the bucket's suffix.
func bucketRegion(bucket string) string {
	for _, r := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		if strings.HasSuffix(bucket, r) {
			return r
		}
	}
	return "us-west-2"
}

func (f *fakeControl) record(call string) error {
	f.calls = append(f.calls, call)
	return f.fail
}

func (f *fakeControl) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// start registers a new operation (or returns the one clientToken started).
func (f *fakeControl) start(account, clientToken, kind, operation string, fill func(*storage.MRAPOperation)) storage.MRAPOperation {
	if arn, ok := f.byToken[operation+"/"+clientToken]; ok {
		return *f.ops[arn]
	}
	f.seq++
	op := &storage.MRAPOperation{
		TokenARN:  fmt.Sprintf("arn:aws:s3:us-west-2:%s:async-request/mrap/%s/tok%d", account, kind, f.seq),
		Operation: operation, Account: account, ClientToken: clientToken,
		Created: time.Date(2026, 12, 8, 1, 2, 3, 0, time.UTC), Status: storage.MRAPRequestNew,
	}
	fill(op)
	f.ops[op.TokenARN] = op
	f.byToken[operation+"/"+clientToken] = op.TokenARN
	return *op
}

func (f *fakeControl) CreateMRAP(_ context.Context, account, clientToken string, m storage.MRAP) (storage.MRAPOperation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create " + m.Name + " " + clientToken); err != nil {
		return storage.MRAPOperation{}, err
	}
	if arn, ok := f.byToken[storage.MRAPOpCreate+"/"+clientToken]; ok {
		return *f.ops[arn], nil
	}
	if _, ok := f.mraps[m.Name]; ok {
		return storage.MRAPOperation{}, storage.ErrMRAPAlreadyExists
	}
	for i := range m.Regions {
		m.Regions[i].Region = bucketRegion(m.Regions[i].Bucket)
		m.Regions[i].TrafficDial = 100
	}
	slices.SortFunc(m.Regions, func(a, b storage.MRAPRegion) int { return strings.Compare(a.Region, b.Region) })
	m.Account, m.Status = account, storage.MRAPCreating
	m.Alias = "m" + (hex.EncodeToString([]byte(m.Name)) + "000000000000")[:12] + ".mrap"
	m.Created = time.Date(2026, 12, 8, 1, 2, 3, 0, time.UTC)
	op := f.start(account, clientToken, "create", storage.MRAPOpCreate, func(op *storage.MRAPOperation) {
		op.Name, op.Create = m.Name, &m
	})
	f.mraps[m.Name] = m
	return op, nil
}

func (f *fakeControl) DeleteMRAP(_ context.Context, account, clientToken, name string) (storage.MRAPOperation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("delete " + name); err != nil {
		return storage.MRAPOperation{}, err
	}
	if _, ok := f.mraps[name]; !ok {
		return storage.MRAPOperation{}, storage.ErrNoSuchMRAP
	}
	return f.start(account, clientToken, "delete", storage.MRAPOpDelete, func(op *storage.MRAPOperation) { op.Name = name }), nil
}

func (f *fakeControl) PutMRAPPolicy(_ context.Context, account, clientToken, name, policy string) (storage.MRAPOperation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("put-policy " + name); err != nil {
		return storage.MRAPOperation{}, err
	}
	m, ok := f.mraps[name]
	if !ok {
		return storage.MRAPOperation{}, storage.ErrNoSuchMRAP
	}
	m.ProposedPolicy = policy
	f.mraps[name] = m
	return f.start(account, clientToken, "put-policy", storage.MRAPOpPutPolicy, func(op *storage.MRAPOperation) {
		op.Name, op.Policy = name, policy
	}), nil
}

// MRAPOperation advances the operation: IN_PROGRESS, then done once described
// describesToFinish times (the MRAP READY, deleted, or its policy established).
func (f *fakeControl) MRAPOperation(_ context.Context, account, tokenARN string) (storage.MRAPOperation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("describe " + tokenARN); err != nil {
		return storage.MRAPOperation{}, err
	}
	op, ok := f.ops[tokenARN]
	if !ok || op.Account != account {
		return storage.MRAPOperation{}, storage.ErrNoSuchAsyncRequest
	}
	f.describes[tokenARN]++
	if op.Status == storage.MRAPRequestNew || op.Status == storage.MRAPRequestInProgress {
		op.Status = storage.MRAPRequestInProgress
		if strings.HasPrefix(op.Name, "fail") {
			op.Status, op.ErrorCode, op.ErrorMessage = storage.MRAPRequestFailed, "InvalidRequest", "bucket fail-bucket does not exist"
			delete(f.mraps, op.Name)
		} else if f.describes[tokenARN] >= f.describesToFinish {
			op.Status = storage.MRAPRequestSucceeded
			m := f.mraps[op.Name]
			switch op.Operation {
			case storage.MRAPOpCreate:
				m.Status = storage.MRAPReady
				f.mraps[op.Name] = m
			case storage.MRAPOpDelete:
				delete(f.mraps, op.Name)
			case storage.MRAPOpPutPolicy:
				m.Policy, m.ProposedPolicy = op.Policy, ""
				f.mraps[op.Name] = m
			}
		}
	}
	return *op, nil
}

func (f *fakeControl) MRAP(_ context.Context, account, name string) (storage.MRAP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("get " + name); err != nil {
		return storage.MRAP{}, err
	}
	m, ok := f.mraps[name]
	if !ok || m.Account != account {
		return storage.MRAP{}, storage.ErrNoSuchMRAP
	}
	return m, nil
}

func (f *fakeControl) MRAPs(_ context.Context, account string) ([]storage.MRAP, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("list"); err != nil {
		return nil, err
	}
	var out []storage.MRAP
	for _, m := range f.mraps {
		if m.Account == account {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b storage.MRAP) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeControl) SubmitMRAPRoutes(_ context.Context, account, mrap string, routes []storage.MRAPRoute) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("routes " + mrap); err != nil {
		return err
	}
	f.routes = append(f.routes, routes)
	for name, m := range f.mraps {
		if m.ARN() != mrap && m.Alias != mrap {
			continue
		}
		for _, r := range routes {
			for i := range m.Regions {
				if m.Regions[i].Bucket == r.Bucket || m.Regions[i].Region == r.Region {
					m.Regions[i].TrafficDial = r.TrafficDial
				}
			}
		}
		f.mraps[name] = m
		return nil
	}
	return storage.ErrNoSuchMRAP
}

// ctlUnavailable is a retryable error, as the catalog returns when the control
// region has no leader.
type ctlUnavailable struct{}

func (ctlUnavailable) Error() string   { return "control region unavailable" }
func (ctlUnavailable) Retryable() bool { return true }

// redirectClient sends the SDK's signed requests to the test server, keeping
// the Host the SDK signed ({account}.…), as a user pointing real code at
// Pangea does.
type redirectClient struct {
	target *url.URL
	hosts  *sync.Map // the Host headers sent, and "checksum:{method}" for requests with a checksum
	c      *http.Client
}

func (rc redirectClient) Do(req *http.Request) (*http.Response, error) {
	if req.Host == "" {
		req.Host = req.URL.Host
	}
	rc.hosts.Store(req.Host, true)
	if req.Header.Get("Content-Md5") != "" || req.Header.Get("X-Amz-Checksum-Crc32") != "" {
		rc.hosts.Store("checksum:"+req.Method, true)
	}
	req.URL.Scheme, req.URL.Host = rc.target.Scheme, rc.target.Host
	return rc.c.Do(req)
}

// controlEnv is a Server with a fake MRAPControl behind an httptest server.
type controlEnv struct {
	*testEnv
	fake  *fakeControl
	hosts sync.Map // Host headers the SDK sent
}

func newControlEnv(t *testing.T, ctl MRAPControl) *controlEnv {
	t.Helper()
	l := openLocal(t)
	fake, _ := ctl.(*fakeControl)
	srv := New(Config{
		Region:      "us-east-1",
		Credentials: auth.StaticCredentials{ownerAK: ownerSK, otherAK: otherSK},
		Logger:      testLogger(t),
		MRAPControl: ctl,
	}, l)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &controlEnv{testEnv: &testEnv{t: t, ts: ts, local: l}, fake: fake}
}

// controlClient is an s3control client as a user configures it: region
// us-west-2 (Terraform's), the SDK's own endpoint or baseEndpoint.
func (e *controlEnv) controlClient(ak, sk, baseEndpoint string) *s3control.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if ak != "" {
		creds = credentials.NewStaticCredentialsProvider(ak, sk, "")
	}
	target, err := url.Parse(e.ts.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	o := s3control.Options{
		Region:      "us-west-2",
		Credentials: creds,
		HTTPClient:  redirectClient{target: target, hosts: &e.hosts, c: e.ts.Client()},
		Retryer:     aws.NopRetryer{},
	}
	if baseEndpoint != "" {
		o.BaseEndpoint = aws.String(baseEndpoint)
	}
	return s3control.New(o)
}

func (e *controlEnv) owner() *s3control.Client {
	return e.controlClient(ownerAK, ownerSK, "http://localhost:9000")
}

// acct is the account of every Pangea principal.
var acct = aws.String(accountID)

// wantControlError checks an SDK error's code and status and that it carries
// the request ID.
func wantControlError(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	wantCode(t, what, err, code)
	if got := httpStatus(err); got != status {
		t.Fatalf("%s: status %d, want %d", what, got, status)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() == "" {
		t.Fatalf("%s: no request ID in %v", what, err)
	}
}

// createMRAP creates name over buckets and waits for it, as Terraform does:
// DescribeMultiRegionAccessPointOperation until SUCCEEDED.
func createMRAP(t *testing.T, c *s3control.Client, name string, pab *types.PublicAccessBlockConfiguration, buckets ...string) string {
	t.Helper()
	ctx := context.Background()
	var regions []types.Region
	for _, b := range buckets {
		regions = append(regions, types.Region{Bucket: aws.String(b)})
	}
	out, err := c.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{
		AccountId: acct,
		Details:   &types.CreateMultiRegionAccessPointInput{Name: aws.String(name), PublicAccessBlock: pab, Regions: regions},
	})
	must(t, "create "+name, err)
	waitOperation(t, c, aws.ToString(out.RequestTokenARN))
	return aws.ToString(out.RequestTokenARN)
}

// waitOperation is Terraform's waiter: describe until SUCCEEDED (FAILED
// fails the test).
func waitOperation(t *testing.T, c *s3control.Client, token string) *types.AsyncOperation {
	t.Helper()
	for range 10 {
		d, err := c.DescribeMultiRegionAccessPointOperation(context.Background(), &s3control.DescribeMultiRegionAccessPointOperationInput{
			AccountId: acct, RequestTokenARN: aws.String(token)})
		must(t, "describe "+token, err)
		switch st := aws.ToString(d.AsyncOperation.RequestStatus); st {
		case storage.MRAPRequestSucceeded:
			return d.AsyncOperation
		case storage.MRAPRequestNew, storage.MRAPRequestInProgress:
		default:
			t.Fatalf("operation %s: status %s", token, st)
		}
	}
	t.Fatalf("operation %s never succeeded", token)
	return nil
}

func TestControlRoundTrip(t *testing.T) {
	e := newControlEnv(t, newFakeControl())
	c := e.owner()
	ctx := context.Background()

	token := createMRAP(t, c, "my-mrap", nil, "bucket-us-east-1", "bucket-eu-west-1")
	if !strings.HasPrefix(token, "arn:aws:s3:us-west-2:"+accountID+":async-request/mrap/create/") {
		t.Fatalf("token ARN %q", token)
	}
	// The SDK generated the client token; the host had the account prefix.
	calls := e.fake.callLog()
	if f := strings.Fields(calls[0]); len(f) != 3 || f[0] != "create" || f[2] == "" {
		t.Fatalf("first call %q", calls[0])
	}
	if _, ok := e.hosts.Load(accountID + ".localhost:9000"); !ok {
		t.Fatalf("host prefix not seen")
	}
	if _, ok := e.hosts.Load("checksum:POST"); !ok {
		t.Fatalf("the SDK sent no checksum: the verification path did not run")
	}

	// The finished operation's parameters and details.
	d, err := c.DescribeMultiRegionAccessPointOperation(ctx, &s3control.DescribeMultiRegionAccessPointOperationInput{
		AccountId: acct, RequestTokenARN: aws.String(token)})
	must(t, "describe", err)
	op := d.AsyncOperation
	if op.Operation != types.AsyncOperationNameCreateMultiRegionAccessPoint || aws.ToString(op.RequestTokenARN) != token ||
		!aws.ToTime(op.CreationTime).Equal(time.Date(2026, 12, 8, 1, 2, 3, 0, time.UTC)) {
		t.Fatalf("operation %+v", op)
	}
	cp := op.RequestParameters.CreateMultiRegionAccessPointRequest
	if aws.ToString(cp.Name) != "my-mrap" || len(cp.Regions) != 2 || !aws.ToBool(cp.PublicAccessBlock.BlockPublicPolicy) {
		t.Fatalf("create parameters %+v", cp)
	}
	if rd := op.ResponseDetails; rd == nil || rd.MultiRegionAccessPointDetails == nil || len(rd.MultiRegionAccessPointDetails.Regions) != 2 ||
		aws.ToString(rd.MultiRegionAccessPointDetails.Regions[1].Name) != "us-east-1" {
		t.Fatalf("response details %+v", op.ResponseDetails)
	}

	// Get: regions, aliases, public access block defaults (all on).
	g, err := c.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: acct, Name: aws.String("my-mrap")})
	must(t, "get", err)
	ap := g.AccessPoint
	if aws.ToString(ap.Name) != "my-mrap" || !validMRAPAlias(aws.ToString(ap.Alias)) || ap.Status != types.MultiRegionAccessPointStatusReady ||
		ap.CreatedAt == nil || len(ap.Regions) != 2 {
		t.Fatalf("access point %+v", ap)
	}
	p := ap.PublicAccessBlock
	if !aws.ToBool(p.BlockPublicAcls) || !aws.ToBool(p.IgnorePublicAcls) || !aws.ToBool(p.BlockPublicPolicy) || !aws.ToBool(p.RestrictPublicBuckets) {
		t.Fatalf("public access block %+v", p)
	}
	r0 := ap.Regions[0]
	if aws.ToString(r0.Bucket) != "bucket-eu-west-1" || aws.ToString(r0.Region) != "eu-west-1" || aws.ToString(r0.BucketAccountId) != accountID {
		t.Fatalf("region %+v", r0)
	}

	// A second MRAP with some public access settings off; List pages them.
	createMRAP(t, c, "second", &types.PublicAccessBlockConfiguration{BlockPublicPolicy: aws.Bool(false)}, "other-ap-southeast-2")
	l, err := c.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	must(t, "list", err)
	if len(l.AccessPoints) != 2 || aws.ToString(l.AccessPoints[1].Name) != "second" || l.NextToken != nil {
		t.Fatalf("list %+v", l)
	}
	if sp := l.AccessPoints[1].PublicAccessBlock; aws.ToBool(sp.BlockPublicPolicy) || !aws.ToBool(sp.BlockPublicAcls) {
		t.Fatalf("second's public access block %+v", sp)
	}
	var names []string
	pg := s3control.NewListMultiRegionAccessPointsPaginator(c, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct, MaxResults: 1})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		must(t, "list page", err)
		for _, a := range page.AccessPoints {
			names = append(names, aws.ToString(a.Name))
		}
	}
	if !slices.Equal(names, []string{"my-mrap", "second"}) {
		t.Fatalf("paged names %v", names)
	}

	// Policy: proposed, then established; its public status.
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3::` +
		accountID + `:accesspoint/` + aws.ToString(ap.Alias) + `/object/*"}]}`
	pp, err := c.PutMultiRegionAccessPointPolicy(ctx, &s3control.PutMultiRegionAccessPointPolicyInput{AccountId: acct,
		Details: &types.PutMultiRegionAccessPointPolicyInput{Name: aws.String("my-mrap"), Policy: aws.String(pol)}})
	must(t, "put policy", err)
	gp, err := c.GetMultiRegionAccessPointPolicy(ctx, &s3control.GetMultiRegionAccessPointPolicyInput{AccountId: acct, Name: aws.String("my-mrap")})
	must(t, "get policy", err)
	if gp.Policy.Established != nil || aws.ToString(gp.Policy.Proposed.Policy) != pol {
		t.Fatalf("policy before establishing %+v", gp.Policy)
	}
	st, err := c.GetMultiRegionAccessPointPolicyStatus(ctx, &s3control.GetMultiRegionAccessPointPolicyStatusInput{AccountId: acct, Name: aws.String("my-mrap")})
	must(t, "policy status", err)
	if st.Established.IsPublic {
		t.Fatalf("no established policy, yet public")
	}
	pop := waitOperation(t, c, aws.ToString(pp.RequestTokenARN))
	if pr := pop.RequestParameters.PutMultiRegionAccessPointPolicyRequest; pr == nil || aws.ToString(pr.Policy) != pol {
		t.Fatalf("put-policy parameters %+v", pop.RequestParameters)
	}
	gp, err = c.GetMultiRegionAccessPointPolicy(ctx, &s3control.GetMultiRegionAccessPointPolicyInput{AccountId: acct, Name: aws.String("my-mrap")})
	must(t, "get policy", err)
	if aws.ToString(gp.Policy.Established.Policy) != pol || aws.ToString(gp.Policy.Proposed.Policy) != pol {
		t.Fatalf("established policy %+v", gp.Policy)
	}
	st, err = c.GetMultiRegionAccessPointPolicyStatus(ctx, &s3control.GetMultiRegionAccessPointPolicyStatusInput{AccountId: acct, Name: aws.String("my-mrap")})
	must(t, "policy status", err)
	if !st.Established.IsPublic {
		t.Fatalf("a policy for Principal * is not public")
	}

	// Routes, by ARN.
	arn := "arn:aws:s3::" + accountID + ":accesspoint/" + aws.ToString(ap.Alias)
	_, err = c.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{AccountId: acct, Mrap: aws.String(arn),
		RouteUpdates: []types.MultiRegionAccessPointRoute{
			{Bucket: aws.String("bucket-us-east-1"), TrafficDialPercentage: aws.Int32(0)},
			{Region: aws.String("eu-west-1"), TrafficDialPercentage: aws.Int32(100)},
		}})
	must(t, "submit routes", err)
	if got := e.fake.routes[0]; len(got) != 2 || got[0] != (storage.MRAPRoute{Bucket: "bucket-us-east-1"}) ||
		got[1] != (storage.MRAPRoute{Region: "eu-west-1", TrafficDial: 100}) {
		t.Fatalf("routes submitted %+v", got)
	}
	gr, err := c.GetMultiRegionAccessPointRoutes(ctx, &s3control.GetMultiRegionAccessPointRoutesInput{AccountId: acct, Mrap: aws.String(arn)})
	must(t, "get routes", err)
	if aws.ToString(gr.Mrap) != arn || len(gr.Routes) != 2 || aws.ToString(gr.Routes[1].Bucket) != "bucket-us-east-1" ||
		aws.ToString(gr.Routes[1].Region) != "us-east-1" || aws.ToInt32(gr.Routes[1].TrafficDialPercentage) != 0 ||
		aws.ToInt32(gr.Routes[0].TrafficDialPercentage) != 100 {
		t.Fatalf("routes %+v", gr.Routes)
	}

	// Delete, then the MRAP is gone.
	del, err := c.DeleteMultiRegionAccessPoint(ctx, &s3control.DeleteMultiRegionAccessPointInput{AccountId: acct,
		Details: &types.DeleteMultiRegionAccessPointInput{Name: aws.String("my-mrap")}})
	must(t, "delete", err)
	dop := waitOperation(t, c, aws.ToString(del.RequestTokenARN))
	if dp := dop.RequestParameters.DeleteMultiRegionAccessPointRequest; dp == nil || aws.ToString(dp.Name) != "my-mrap" {
		t.Fatalf("delete parameters %+v", dop.RequestParameters)
	}
	_, err = c.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: acct, Name: aws.String("my-mrap")})
	wantControlError(t, "get deleted", err, "NoSuchMultiRegionAccessPoint", http.StatusNotFound)
}

// The SDK's own endpoint (https://{account}.s3-control.us-west-2.amazonaws.com)
// redirected: the host is ignored, the account comes from x-amz-account-id.
func TestControlDefaultEndpoint(t *testing.T) {
	e := newControlEnv(t, newFakeControl())
	c := e.controlClient(ownerAK, ownerSK, "")
	_, err := c.ListMultiRegionAccessPoints(context.Background(), &s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	must(t, "list", err)
	if _, ok := e.hosts.Load(accountID + ".s3-control.us-west-2.amazonaws.com"); !ok {
		t.Fatalf("AWS host not used")
	}
}

func TestControlErrors(t *testing.T) {
	ctx := context.Background()
	e := newControlEnv(t, newFakeControl())
	c := e.owner()

	_, err := c.GetMultiRegionAccessPoint(ctx, &s3control.GetMultiRegionAccessPointInput{AccountId: acct, Name: aws.String("nope")})
	wantControlError(t, "get unknown", err, "NoSuchMultiRegionAccessPoint", http.StatusNotFound)
	_, err = c.DescribeMultiRegionAccessPointOperation(ctx, &s3control.DescribeMultiRegionAccessPointOperationInput{AccountId: acct,
		RequestTokenARN: aws.String("arn:aws:s3:us-west-2:" + accountID + ":async-request/mrap/create/unknown")})
	wantControlError(t, "describe unknown", err, "NoSuchAsyncRequest", http.StatusNotFound)
	_, err = c.DeleteMultiRegionAccessPoint(ctx, &s3control.DeleteMultiRegionAccessPointInput{AccountId: acct,
		Details: &types.DeleteMultiRegionAccessPointInput{Name: aws.String("nope")}})
	wantControlError(t, "delete unknown", err, "NoSuchMultiRegionAccessPoint", http.StatusNotFound)

	createMRAP(t, c, "dup", nil, "bucket-us-east-1")
	_, err = c.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{AccountId: acct,
		Details: &types.CreateMultiRegionAccessPointInput{Name: aws.String("dup"), Regions: []types.Region{{Bucket: aws.String("bucket-us-east-1")}}}})
	wantControlError(t, "create twice", err, "MultiRegionAccessPointAlreadyExists", http.StatusConflict)
	// The same client token is the same request: no conflict.
	in := &s3control.CreateMultiRegionAccessPointInput{AccountId: acct, ClientToken: aws.String("tok-1"),
		Details: &types.CreateMultiRegionAccessPointInput{Name: aws.String("idem"), Regions: []types.Region{{Bucket: aws.String("bucket-us-east-1")}}}}
	o1, err := c.CreateMultiRegionAccessPoint(ctx, in)
	must(t, "create idem", err)
	o2, err := c.CreateMultiRegionAccessPoint(ctx, in)
	must(t, "create idem again", err)
	if aws.ToString(o1.RequestTokenARN) != aws.ToString(o2.RequestTokenARN) {
		t.Fatalf("client token ignored: %s, %s", aws.ToString(o1.RequestTokenARN), aws.ToString(o2.RequestTokenARN))
	}

	route := []types.MultiRegionAccessPointRoute{{Region: aws.String("us-east-1"), TrafficDialPercentage: aws.Int32(100)}}
	submit := func() error {
		_, err := c.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{AccountId: acct,
			Mrap: aws.String("arn:aws:s3::" + accountID + ":accesspoint/mabc.mrap"), RouteUpdates: route})
		return err
	}
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{storage.ErrMRAPRouteConflict, "ConflictingRouteUpdate", http.StatusConflict},
		{fmt.Errorf("%w: every region would be passive", storage.ErrInvalidMRAP), "InvalidRequest", http.StatusBadRequest},
		{fmt.Errorf("catalog: %w", ctlUnavailable{}), "ServiceUnavailable", http.StatusServiceUnavailable},
	} {
		e.fake.mu.Lock()
		e.fake.fail = tc.err
		e.fake.mu.Unlock()
		err := submit()
		wantControlError(t, tc.code, err, tc.code, tc.status)
		if tc.code == "InvalidRequest" && !strings.Contains(err.Error(), "every region would be passive") ||
			strings.Contains(err.Error(), "storage:") {
			t.Fatalf("message of %v", err)
		}
	}

	// No MRAPControl: NotImplemented.
	off := newControlEnv(t, nil)
	_, err = off.owner().ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	wantControlError(t, "disabled", err, "NotImplemented", http.StatusNotImplemented)
}

func TestControlValidation(t *testing.T) {
	ctx := context.Background()
	e := newControlEnv(t, newFakeControl())
	c := e.owner()
	create := func(name string, regions []types.Region, token *string) error {
		_, err := c.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{AccountId: acct, ClientToken: token,
			Details: &types.CreateMultiRegionAccessPointInput{Name: aws.String(name), Regions: regions}})
		return err
	}
	one := []types.Region{{Bucket: aws.String("bucket-us-east-1")}}
	var many []types.Region
	for i := range 18 {
		many = append(many, types.Region{Bucket: aws.String(fmt.Sprintf("bucket-%02d", i))})
	}
	cases := map[string]error{
		"upper-case name":   create("My-mrap", one, nil),
		"short name":        create("ab", one, nil),
		"hyphen at end":     create("abc-", one, nil),
		"long name":         create(strings.Repeat("a", 51), one, nil),
		"no region":         create("abc", []types.Region{}, nil),
		"18 regions":        create("abc", many, nil),
		"bucket twice":      create("abc", []types.Region{{Bucket: aws.String("b-1")}, {Bucket: aws.String("b-1")}}, nil),
		"short bucket":      create("abc", []types.Region{{Bucket: aws.String("b")}}, nil),
		"bad bucket owner":  create("abc", []types.Region{{Bucket: aws.String("bbb"), BucketAccountId: aws.String("12345")}}, nil),
		"long client token": create("abc", one, aws.String(strings.Repeat("t", 65))),
	}
	routes := func(r ...types.MultiRegionAccessPointRoute) error {
		_, err := c.SubmitMultiRegionAccessPointRoutes(ctx, &s3control.SubmitMultiRegionAccessPointRoutesInput{AccountId: acct,
			Mrap: aws.String("arn:aws:s3::" + accountID + ":accesspoint/mabc.mrap"), RouteUpdates: r})
		return err
	}
	cases["dial 101"] = routes(types.MultiRegionAccessPointRoute{Bucket: aws.String("bbb"), TrafficDialPercentage: aws.Int32(101)})
	cases["route names nothing"] = routes(types.MultiRegionAccessPointRoute{TrafficDialPercentage: aws.Int32(0)})
	_, err := c.GetMultiRegionAccessPointRoutes(ctx, &s3control.GetMultiRegionAccessPointRoutesInput{AccountId: acct, Mrap: aws.String("random")})
	cases["not an ARN"] = err
	_, err = c.DescribeMultiRegionAccessPointOperation(ctx, &s3control.DescribeMultiRegionAccessPointOperationInput{AccountId: acct,
		RequestTokenARN: aws.String("not-an-arn")})
	cases["token not an ARN"] = err
	_, err = c.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct, MaxResults: 1001})
	cases["maxResults 1001"] = err
	for what, err := range cases {
		wantControlError(t, what, err, "InvalidRequest", http.StatusBadRequest)
	}

	_, err = c.PutMultiRegionAccessPointPolicy(ctx, &s3control.PutMultiRegionAccessPointPolicyInput{AccountId: acct,
		Details: &types.PutMultiRegionAccessPointPolicyInput{Name: aws.String("abc"), Policy: aws.String(`{"Statement":`)}})
	wantControlError(t, "bad policy", err, "MalformedPolicy", http.StatusBadRequest)

	if calls := e.fake.callLog(); len(calls) != 0 {
		t.Fatalf("invalid requests reached the catalog: %v", calls)
	}

	// Raw requests: malformed XML, another root, a bad account header, a wrong
	// method, an unknown path, another S3 Control API.
	hdr := map[string]string{"X-Amz-Account-Id": accountID, "Host": accountID + ".localhost"}
	for _, tc := range []struct {
		method, path, body string
		header             map[string]string
		code               string
		status             int
	}{
		{"POST", "/v20180820/async-requests/mrap/create", "<CreateMultiRegionAccessPointRequest><Details>", hdr, "MalformedXML", 400},
		{"POST", "/v20180820/async-requests/mrap/create", "<Other/>", hdr, "MalformedXML", 400},
		{"GET", "/v20180820/mrap/instances", "", map[string]string{"X-Amz-Account-Id": "12345678901a"}, "InvalidRequest", 400},
		{"GET", "/v20180820/mrap/instances", "", map[string]string{"X-Amz-Account-Id": ""}, "InvalidRequest", 400},
		{"DELETE", "/v20180820/mrap/instances/abc", "", hdr, "MethodNotAllowed", 405},
		{"GET", "/v20180820/async-requests/mrap/create/x", "", hdr, "InvalidRequest", 400},
		{"PUT", "/v20180820/async-requests/mrap/create", "", hdr, "MethodNotAllowed", 405},
		{"GET", "/v20180820/mrap/other", "", hdr, "NotFound", 404},
		{"GET", "/v20180820/accesspoint/ap", "", hdr, "NotImplemented", 501},
	} {
		res := e.ownerDo(tc.method, tc.path, []byte(tc.body), tc.header)
		var eb controlErrorBody
		_ = xml.Unmarshal(res.body, &eb)
		if res.status != tc.status || eb.Code != tc.code || eb.RequestID == "" || eb.RequestID != res.header.Get("X-Amz-Request-Id") {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, res.status, res.body, tc.status, tc.code)
		}
	}
}

func TestControlAccess(t *testing.T) {
	ctx := context.Background()
	e := newControlEnv(t, newFakeControl())

	// Another account: AccessDenied.
	_, err := e.owner().ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: aws.String("111122223333")})
	wantControlError(t, "other account", err, "AccessDenied", http.StatusForbidden)
	// An ARN of another account.
	_, err = e.owner().GetMultiRegionAccessPointRoutes(ctx, &s3control.GetMultiRegionAccessPointRoutesInput{AccountId: acct,
		Mrap: aws.String("arn:aws:s3::111122223333:accesspoint/mabc.mrap")})
	wantControlError(t, "other account's ARN", err, "AccessDenied", http.StatusForbidden)
	// Unsigned: AccessDenied.
	anon := e.controlClient("", "", "http://localhost:9000")
	_, err = anon.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	wantControlError(t, "anonymous", err, "AccessDenied", http.StatusForbidden)
	// A bad signature: SignatureDoesNotMatch, in the wrapped form.
	bad := e.controlClient(ownerAK, "wrong", "http://localhost:9000")
	_, err = bad.ListMultiRegionAccessPoints(ctx, &s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	wantControlError(t, "bad signature", err, "SignatureDoesNotMatch", http.StatusForbidden)
	// Another principal of the account may manage MRAPs.
	_, err = e.controlClient(otherAK, otherSK, "http://localhost:9000").ListMultiRegionAccessPoints(ctx,
		&s3control.ListMultiRegionAccessPointsInput{AccountId: acct})
	must(t, "other principal", err)
	if calls := e.fake.callLog(); !slices.Equal(calls, []string{"list"}) {
		t.Fatalf("calls %v", calls)
	}
}

// Without x-amz-account-id a /v20180820/ path is an ordinary S3 request for
// the bucket v20180820.
func TestControlFallthrough(t *testing.T) {
	e := newControlEnv(t, newFakeControl())
	res := e.ownerDo("GET", "/v20180820/mrap/instances", nil, nil)
	if res.status != http.StatusNotFound || res.code() != "NoSuchBucket" {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	e.createBucket("v20180820")
	res = e.ownerDo("PUT", "/v20180820/mrap/instances", []byte("object"), nil)
	if res.status != http.StatusOK {
		t.Fatalf("put object: %d %s", res.status, res.body)
	}
	if calls := e.fake.callLog(); len(calls) != 0 {
		t.Fatalf("calls %v", calls)
	}
}

// FuzzControlPath checks the control path and ARN parsers: no panic, labels
// kept whole, and a parsed ARN re-formed equal.
func FuzzControlPath(f *testing.F) {
	for _, s := range []string{
		"/v20180820/async-requests/mrap/create",
		"/v20180820/async-requests/mrap/arn:aws:s3:us-west-2:123456789012:async-request/mrap/create/abc123",
		"/v20180820/mrap/instances",
		"/v20180820/mrap/instances/my-mrap",
		"/v20180820/mrap/instances/my-mrap/policy",
		"/v20180820/mrap/instances/my-mrap/policystatus",
		"/v20180820/mrap/instances/arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap/routes",
		"/v20180820/mrap/instances//routes",
		"/v20180820/mrap/instances/policy",
		"/v20180820/mrap",
		"/v20180820/jobs",
		"/v20180820/",
	} {
		for _, m := range []string{"GET", "POST", "PATCH"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		o, arg, err := parseControlPath(method, path)
		if err != nil {
			if o != ctlNone || arg != "" {
				t.Fatalf("error with op %v arg %q", o, arg)
			}
		} else {
			if o == ctlNone || o.String() == "" {
				t.Fatalf("no operation for %s %q", method, path)
			}
			if arg != "" && !strings.Contains(path, arg) {
				t.Fatalf("label %q not in %q", arg, path)
			}
		}
		ref := strings.TrimPrefix(path, "/")
		if acct, alias, ok := parseMRAPRef(ref); ok {
			if !validMRAPAlias(alias) {
				t.Fatalf("alias %q of %q", alias, ref)
			}
			if acct != "" {
				if !validAccountID(acct) || !strings.HasSuffix(ref, ":s3::"+acct+":accesspoint/"+alias) {
					t.Fatalf("ARN %q parsed as %q %q", ref, acct, alias)
				}
			} else if ref != alias {
				t.Fatalf("alias %q parsed as %q", ref, alias)
			}
		}
		_ = validMRAPName(ref)
	})
}

// A failed operation carries its ErrorDetails.
func TestControlFailedOperation(t *testing.T) {
	e := newControlEnv(t, newFakeControl())
	c := e.owner()
	ctx := context.Background()
	out, err := c.CreateMultiRegionAccessPoint(ctx, &s3control.CreateMultiRegionAccessPointInput{AccountId: acct,
		Details: &types.CreateMultiRegionAccessPointInput{Name: aws.String("fail-me"), Regions: []types.Region{{Bucket: aws.String("fail-bucket")}}}})
	must(t, "create", err)
	d, err := c.DescribeMultiRegionAccessPointOperation(ctx, &s3control.DescribeMultiRegionAccessPointOperationInput{AccountId: acct,
		RequestTokenARN: out.RequestTokenARN})
	must(t, "describe", err)
	op := d.AsyncOperation
	if aws.ToString(op.RequestStatus) != storage.MRAPRequestFailed || op.ResponseDetails == nil || op.ResponseDetails.ErrorDetails == nil {
		t.Fatalf("operation %+v", op)
	}
	if ed := op.ResponseDetails.ErrorDetails; aws.ToString(ed.Code) != "InvalidRequest" ||
		aws.ToString(ed.Message) != "bucket fail-bucket does not exist" || aws.ToString(ed.Resource) != "fail-me" {
		t.Fatalf("error details %+v", ed)
	}
}

// The documents on the wire: the result root in the S3 Control namespace,
// whole-second UTC timestamps, the wrapped error form; checksums verified.
func TestControlWireForm(t *testing.T) {
	e := newControlEnv(t, newFakeControl())
	hdr := func(kv ...string) map[string]string {
		h := map[string]string{"X-Amz-Account-Id": accountID, "Host": accountID + ".localhost:9000"}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	body := []byte(`<CreateMultiRegionAccessPointRequest xmlns="` + controlNS + `"><Details><Name>wire</Name>` +
		`<Regions><Region><Bucket>bucket-us-east-1</Bucket></Region></Regions></Details><ClientToken>ct</ClientToken></CreateMultiRegionAccessPointRequest>`)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(body))
	res := e.ownerDo("POST", "/v20180820/async-requests/mrap/create", body,
		hdr("X-Amz-Checksum-Crc32", base64.StdEncoding.EncodeToString(crc[:])))
	want := `<CreateMultiRegionAccessPointResult xmlns="` + controlNS + `"><RequestTokenARN>arn:aws:s3:us-west-2:` + accountID
	if res.status != http.StatusOK || !strings.Contains(string(res.body), want) || res.header.Get("Content-Type") != "application/xml" {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	if calls := e.fake.callLog(); len(calls) != 1 || calls[0] != "create wire ct" {
		t.Fatalf("calls %v", calls)
	}

	res = e.ownerDo("GET", "/v20180820/mrap/instances", nil, hdr())
	for _, want := range []string{`<ListMultiRegionAccessPointsResult xmlns="` + controlNS + `"><AccessPoints><AccessPoint><Name>wire</Name>`,
		"<CreatedAt>2026-12-08T01:02:03Z</CreatedAt>", "<BlockPublicAcls>true</BlockPublicAcls>"} {
		if !strings.Contains(string(res.body), want) {
			t.Fatalf("list: %d %s, want %s", res.status, res.body, want)
		}
	}

	res = e.ownerDo("POST", "/v20180820/async-requests/mrap/create", body, hdr("Content-Md5", base64.StdEncoding.EncodeToString(make([]byte, 16))))
	if res.status != http.StatusBadRequest || !strings.HasPrefix(string(res.body), xml.Header+"<ErrorResponse><Error><Code>BadDigest</Code>") ||
		!strings.Contains(string(res.body), "</Error><RequestId>"+res.header.Get("X-Amz-Request-Id")+"</RequestId><HostId>") {
		t.Fatalf("bad digest: %d %s", res.status, res.body)
	}
}

func TestControlPolicyIsPublic(t *testing.T) {
	const res = `"Resource":"arn:aws:s3::000000000000:accesspoint/mabc.mrap/object/*"`
	for doc, want := range map[string]bool{
		"":  false,
		"{": false,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",` + res + `}]}`:                                      true,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:*",` + res + `}]}`:                                      true,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject",` + res + `}]}`:                                       false,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject",` + res + `}]}`: false,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",` + res +
			`,"Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"}}}]}`: false,
	} {
		if got := mrapPolicyIsPublic(doc); got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", doc, got, want)
		}
	}
}
