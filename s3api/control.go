package s3api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pangea-s3/pangea/s3api/policy"
	"github.com/pangea-s3/pangea/storage"
)

// The S3 Control API's Multi-Region Access Point operations (API version
// 2018-08-20, rest-xml). A request is a control request when its path is under
// /v20180820/ and it carries an x-amz-account-id header: a bucket may be named
// v20180820, so the header decides, whatever the Host (the SDKs prefix it with
// "{account}.", which is ignored). Control requests are authenticated as every
// other request (SigV4, signed for any region: the SDKs sign for the client's
// region) and then served here instead of by dispatch; their errors are written
// by writeError in the wrapped <ErrorResponse> form that aws-sdk-go-v2's s3control
// client requires. The catalog behind them is Config.MRAPControl (mrap.go).

// controlPrefix is the path prefix of every S3 Control API request.
const controlPrefix = "/v20180820/"

// controlNS is the namespace of S3 Control request and response documents.
const controlNS = "http://awss3control.amazonaws.com/doc/2018-08-20/"

// Limits of the MRAP operations (S3 Control's model and user guide).
const (
	maxMRAPRegions     = 17
	maxClientToken     = 64
	maxTokenARN        = 1024
	maxListMRAPs       = 1000
	defaultListMRAPs   = 100
	maxListNextToken   = 1024
	maxRouteRegionName = 64
)

// isControlRequest reports whether r is addressed to the S3 Control API: a
// path under /v20180820/ and an x-amz-account-id header (even empty, which is
// then refused as an invalid account).
func isControlRequest(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, controlPrefix) {
		return false
	}
	_, ok := r.Header["X-Amz-Account-Id"]
	return ok
}

// ctlOp is one S3 Control MRAP operation.
type ctlOp uint8

const (
	ctlNone ctlOp = iota
	ctlCreate
	ctlDelete
	ctlPutPolicy
	ctlDescribe
	ctlGet
	ctlGetPolicy
	ctlGetPolicyStatus
	ctlList
	ctlGetRoutes
	ctlSubmitRoutes
)

var ctlOpNames = [...]string{
	ctlNone:            "",
	ctlCreate:          "CreateMultiRegionAccessPoint",
	ctlDelete:          "DeleteMultiRegionAccessPoint",
	ctlPutPolicy:       "PutMultiRegionAccessPointPolicy",
	ctlDescribe:        "DescribeMultiRegionAccessPointOperation",
	ctlGet:             "GetMultiRegionAccessPoint",
	ctlGetPolicy:       "GetMultiRegionAccessPointPolicy",
	ctlGetPolicyStatus: "GetMultiRegionAccessPointPolicyStatus",
	ctlList:            "ListMultiRegionAccessPoints",
	ctlGetRoutes:       "GetMultiRegionAccessPointRoutes",
	ctlSubmitRoutes:    "SubmitMultiRegionAccessPointRoutes",
}

// String returns the operation's S3 Control name.
func (o ctlOp) String() string {
	if int(o) < len(ctlOpNames) {
		return ctlOpNames[o]
	}
	return ""
}

// Errors of the control path itself.
var (
	errControlNotFound = apiErr("NotFound", "The specified S3 Control resource does not exist.")
	errControlNotImpl  = apiErr("NotImplemented", "This S3 Control API operation is not implemented.")
	errMRAPDisabled    = apiErr("NotImplemented", "Multi-Region Access Points are not enabled on this server.")
)

// parseControlPath maps a control request's method and decoded path to its
// operation and the operation's path label (the greedy {name+}, {mrap+} or
// {request_token+}, "" for the others). The path labels are greedy: a token ARN
// or an MRAP ARN keeps its slashes. Errors: MethodNotAllowed for a known
// resource with another method, NotFound for an unknown MRAP path,
// NotImplemented for the S3 Control APIs other than MRAPs.
func parseControlPath(method, path string) (ctlOp, string, error) {
	rest, ok := strings.CutPrefix(path, controlPrefix)
	if !ok {
		return ctlNone, "", errControlNotFound
	}
	only := func(want string, o ctlOp, arg string) (ctlOp, string, error) {
		if method != want {
			return ctlNone, "", errMethodNotAllowed
		}
		return o, arg, nil
	}
	switch rest {
	case "async-requests/mrap/create":
		return only(http.MethodPost, ctlCreate, "")
	case "async-requests/mrap/delete":
		return only(http.MethodPost, ctlDelete, "")
	case "async-requests/mrap/put-policy":
		return only(http.MethodPost, ctlPutPolicy, "")
	case "mrap/instances", "mrap/instances/":
		return only(http.MethodGet, ctlList, "")
	}
	if token, ok := strings.CutPrefix(rest, "async-requests/mrap/"); ok && token != "" {
		return only(http.MethodGet, ctlDescribe, token)
	}
	if x, ok := strings.CutPrefix(rest, "mrap/instances/"); ok && x != "" {
		if m, ok := strings.CutSuffix(x, "/routes"); ok && m != "" {
			switch method {
			case http.MethodGet:
				return ctlGetRoutes, m, nil
			case http.MethodPatch:
				return ctlSubmitRoutes, m, nil
			}
			return ctlNone, "", errMethodNotAllowed
		}
		if n, ok := strings.CutSuffix(x, "/policystatus"); ok && n != "" {
			return only(http.MethodGet, ctlGetPolicyStatus, n)
		}
		if n, ok := strings.CutSuffix(x, "/policy"); ok && n != "" {
			return only(http.MethodGet, ctlGetPolicy, n)
		}
		return only(http.MethodGet, ctlGet, x)
	}
	if rest == "mrap" || strings.HasPrefix(rest, "mrap/") || rest == "async-requests/mrap" || strings.HasPrefix(rest, "async-requests/mrap/") {
		return ctlNone, "", errControlNotFound
	}
	return ctlNone, "", errControlNotImpl
}

// validMRAPName reports whether name matches S3 Control's pattern
// ^[a-z0-9][-a-z0-9]{1,48}[a-z0-9]$ (3 to 50 characters).
func validMRAPName(name string) bool {
	if len(name) < 3 || len(name) > 50 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validAccountID reports whether s is an account ID: exactly 12 digits.
func validAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseMRAPRef parses the {mrap+} label of the route operations: an MRAP ARN
// (arn:{partition}:s3::{account}:accesspoint/{alias}), whose account is
// returned, or a bare alias (an emulator convenience; account ""). ok is false
// for anything else.
func parseMRAPRef(s string) (account, alias string, ok bool) {
	if validMRAPAlias(s) {
		return "", s, true
	}
	rest, found := strings.CutPrefix(s, "arn:")
	if !found {
		return "", "", false
	}
	partition, rest, found := strings.Cut(rest, ":")
	if !found || partition == "" || strings.ContainsAny(partition, "/") {
		return "", "", false
	}
	rest, found = strings.CutPrefix(rest, "s3::")
	if !found {
		return "", "", false
	}
	account, rest, found = strings.Cut(rest, ":")
	if !found || !validAccountID(account) {
		return "", "", false
	}
	alias, found = strings.CutPrefix(rest, "accesspoint/")
	if !found || !validMRAPAlias(alias) {
		return "", "", false
	}
	return account, alias, true
}

// invalidRequest is a 400 InvalidRequest with msg.
func invalidRequest(msg string) *Error { return apiErr("InvalidRequest", msg) }

// invalidMRAPMessage is the message of an ErrInvalidMRAP error as the client
// reads it: what the catalog wrapped the sentinel with, without the sentinel's
// own text.
func invalidMRAPMessage(err error) string {
	msg := err.Error()
	sentinel := storage.ErrInvalidMRAP.Error()
	if i := strings.Index(msg, sentinel+": "); i >= 0 {
		if m := msg[i+len(sentinel)+2:]; m != "" {
			return m
		}
	}
	if m := strings.TrimSuffix(strings.TrimSuffix(msg, sentinel), ": "); m != "" {
		return m
	}
	return "The request is not valid for a Multi-Region Access Point."
}

// controlAccount checks the caller's account: the x-amz-account-id header must
// be 12 digits (else InvalidRequest) and the authenticated principal's account
// (else AccessDenied; anonymous callers are always refused).
func controlAccount(rc *reqCtx) (string, error) {
	if rc.anonymous() {
		return "", errAccessDenied
	}
	acct := rc.r.Header.Get("X-Amz-Account-Id")
	if !validAccountID(acct) {
		return "", invalidRequest("The x-amz-account-id header must be a 12-digit account ID.")
	}
	if acct != accountID {
		return "", errAccessDenied
	}
	return acct, nil
}

// control serves an S3 Control API request (the request is authenticated).
func (s *Server) control(rc *reqCtx) error {
	account, err := controlAccount(rc)
	if err != nil {
		return err
	}
	o, arg, err := parseControlPath(rc.r.Method, rc.r.URL.Path)
	if err != nil {
		return err
	}
	mc := s.cfg.MRAPControl
	if mc == nil {
		return errMRAPDisabled
	}
	ctx := rc.r.Context()
	switch o {
	case ctlCreate:
		var req ctlCreateRequest
		if err := readControlXML(rc, &req); err != nil {
			return err
		}
		token, err := clientToken(req.ClientToken)
		if err != nil {
			return err
		}
		m, err := req.Details.mrap(account)
		if err != nil {
			return err
		}
		op, err := mc.CreateMRAP(ctx, account, token, m)
		if err != nil {
			return err
		}
		return s.writeControl(rc, o, ctlTokenResult{RequestTokenARN: op.TokenARN})
	case ctlDelete:
		var req ctlDeleteRequest
		if err := readControlXML(rc, &req); err != nil {
			return err
		}
		token, err := clientToken(req.ClientToken)
		if err != nil {
			return err
		}
		if !validMRAPName(req.Details.Name) {
			return errInvalidMRAPName
		}
		op, err := mc.DeleteMRAP(ctx, account, token, req.Details.Name)
		if err != nil {
			return err
		}
		return s.writeControl(rc, o, ctlTokenResult{RequestTokenARN: op.TokenARN})
	case ctlPutPolicy:
		var req ctlPutPolicyRequest
		if err := readControlXML(rc, &req); err != nil {
			return err
		}
		token, err := clientToken(req.ClientToken)
		if err != nil {
			return err
		}
		if !validMRAPName(req.Details.Name) {
			return errInvalidMRAPName
		}
		if _, err := policy.Parse([]byte(req.Details.Policy)); err != nil {
			return err
		}
		op, err := mc.PutMRAPPolicy(ctx, account, token, req.Details.Name, req.Details.Policy)
		if err != nil {
			return err
		}
		return s.writeControl(rc, o, ctlTokenResult{RequestTokenARN: op.TokenARN})
	case ctlDescribe:
		if len(arg) > maxTokenARN || !strings.HasPrefix(arg, "arn:") || len(arg) == len("arn:") {
			return invalidRequest("The request token ARN is not valid.")
		}
		op, err := mc.MRAPOperation(ctx, account, arg)
		if err != nil {
			return err
		}
		return s.writeControl(rc, o, ctlDescribeResult{AsyncOperation: asyncOperationOf(op)})
	case ctlGet, ctlGetPolicy, ctlGetPolicyStatus:
		if !validMRAPName(arg) {
			return errInvalidMRAPName
		}
		m, err := mc.MRAP(ctx, account, arg)
		if err != nil {
			return err
		}
		switch o {
		case ctlGet:
			return s.writeControl(rc, o, ctlGetResult{AccessPoint: accessPointOf(m)})
		case ctlGetPolicy:
			return s.writeControl(rc, o, ctlGetPolicyResult{Policy: policyDocsOf(m)})
		}
		return s.writeControl(rc, o, ctlPolicyStatusResult{IsPublic: mrapPolicyIsPublic(m.Policy)})
	case ctlList:
		return s.listMRAPs(rc, account)
	case ctlGetRoutes:
		m, err := s.mrapByRef(rc, account, arg)
		if err != nil {
			return err
		}
		res := ctlRoutesResult{Mrap: arg}
		for _, r := range m.Regions {
			res.Routes = append(res.Routes, ctlRoute{Bucket: r.Bucket, Region: r.Region, TrafficDialPercentage: r.TrafficDial})
		}
		return s.writeControl(rc, o, res)
	case ctlSubmitRoutes:
		if _, err := checkMRAPRef(arg, account); err != nil {
			return err
		}
		var req ctlSubmitRoutesRequest
		if err := readControlXML(rc, &req); err != nil {
			return err
		}
		routes, err := req.routes()
		if err != nil {
			return err
		}
		if err := mc.SubmitMRAPRoutes(ctx, account, arg, routes); err != nil {
			return err
		}
		rc.w.Header().Set("Content-Length", "0")
		rc.w.WriteHeader(http.StatusOK)
		return nil
	}
	return errControlNotFound
}

var errInvalidMRAPName = invalidRequest("The Multi-Region Access Point name must be 3 to 50 lowercase letters, digits and hyphens, and must not begin or end with a hyphen.")

// checkMRAPRef validates the {mrap+} label of a route operation and returns
// the alias it names: an ARN of another account is AccessDenied.
func checkMRAPRef(ref, account string) (string, error) {
	acct, alias, ok := parseMRAPRef(ref)
	if !ok {
		return "", invalidRequest("The Multi-Region Access Point ARN is not valid.")
	}
	if acct != "" && acct != account {
		return "", errAccessDenied
	}
	return alias, nil
}

// mrapByRef finds the account's MRAP a route operation's {mrap+} label names.
func (s *Server) mrapByRef(rc *reqCtx, account, ref string) (storage.MRAP, error) {
	alias, err := checkMRAPRef(ref, account)
	if err != nil {
		return storage.MRAP{}, err
	}
	all, err := s.cfg.MRAPControl.MRAPs(rc.r.Context(), account)
	if err != nil {
		return storage.MRAP{}, err
	}
	for _, m := range all {
		if m.Alias == alias {
			return m, nil
		}
	}
	return storage.MRAP{}, storage.ErrNoSuchMRAP
}

// listMRAPs answers ListMultiRegionAccessPoints. The MRAPs come sorted by name;
// the next token is the last name listed, base64url-encoded.
func (s *Server) listMRAPs(rc *reqCtx, account string) error {
	limit := defaultListMRAPs
	if v := rc.param("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxListMRAPs {
			return invalidRequest("maxResults must be an integer from 0 to 1000.")
		}
		if n > 0 {
			limit = n
		}
	}
	after := ""
	if v := rc.param("nextToken"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if len(v) > maxListNextToken || err != nil {
			return invalidRequest("The continuation token provided is incorrect.")
		}
		after = string(raw)
	}
	all, err := s.cfg.MRAPControl.MRAPs(rc.r.Context(), account)
	if err != nil {
		return err
	}
	var res ctlListResult
	for _, m := range all {
		if after != "" && m.Name <= after {
			continue
		}
		if len(res.AccessPoints) == limit {
			res.NextToken = base64.RawURLEncoding.EncodeToString([]byte(res.AccessPoints[limit-1].Name))
			break
		}
		res.AccessPoints = append(res.AccessPoints, accessPointOf(m))
	}
	return s.writeControl(rc, ctlList, res)
}

// readControlXML reads and parses a control request's XML body (Content-MD5 or
// x-amz-checksum-* verified when sent, neither required).
func readControlXML(rc *reqCtx, v any) error {
	body, err := readDocument(rc, maxXMLBody, false)
	if err != nil {
		return err
	}
	return parseXML(body, v)
}

// clientToken validates a request's ClientToken (at most 64 characters, none
// of them white space) or generates one when the request has none.
func clientToken(t string) (string, error) {
	if t == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		return hex.EncodeToString(b[:]), nil
	}
	if len(t) > maxClientToken || strings.ContainsFunc(t, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	}) {
		return "", invalidRequest("ClientToken must be 1 to 64 characters without white space.")
	}
	return t, nil
}

// writeControl answers a control operation with v as the document
// <{Operation}Result xmlns="...2018-08-20/">.
func (s *Server) writeControl(rc *reqCtx, o ctlOp, v any) error {
	return s.writeXML(rc, http.StatusOK, ctlResult{
		XMLName: xml.Name{Space: controlNS, Local: o.String() + "Result"},
		Body:    v,
	})
}

// ctlResult is a response document: a root element around the operation's
// fields.
type ctlResult struct {
	XMLName xml.Name
	Body    any
}

// MarshalXML writes the root element with the fields of Body as its children.
func (r ctlResult) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Local: r.XMLName.Local},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: r.XMLName.Space}}}
	return e.EncodeElement(r.Body, start)
}

// controlTime formats a time as S3 Control does: ISO-8601 UTC, whole seconds.
func controlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ---- request documents ----

// ctlPABIn is a requested public access block: an omitted setting is on.
type ctlPABIn struct {
	BlockPublicAcls       *bool `xml:"BlockPublicAcls"`
	IgnorePublicAcls      *bool `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     *bool `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets *bool `xml:"RestrictPublicBuckets"`
}

// ctlRegionIn is one requested region of an MRAP: a bucket and its account.
type ctlRegionIn struct {
	Bucket          string `xml:"Bucket"`
	BucketAccountID string `xml:"BucketAccountId,omitempty"`
}

// ctlCreateDetails is CreateMultiRegionAccessPointInput.
type ctlCreateDetails struct {
	Name              string        `xml:"Name"`
	PublicAccessBlock *ctlPABIn     `xml:"PublicAccessBlock"`
	Regions           []ctlRegionIn `xml:"Regions>Region"`
}

type ctlCreateRequest struct {
	XMLName     xml.Name         `xml:"CreateMultiRegionAccessPointRequest"`
	ClientToken string           `xml:"ClientToken"`
	Details     ctlCreateDetails `xml:"Details"`
}

type ctlDeleteRequest struct {
	XMLName     xml.Name `xml:"DeleteMultiRegionAccessPointRequest"`
	ClientToken string   `xml:"ClientToken"`
	Details     struct {
		Name string `xml:"Name"`
	} `xml:"Details"`
}

type ctlPutPolicyRequest struct {
	XMLName     xml.Name `xml:"PutMultiRegionAccessPointPolicyRequest"`
	ClientToken string   `xml:"ClientToken"`
	Details     struct {
		Name   string `xml:"Name"`
		Policy string `xml:"Policy"`
	} `xml:"Details"`
}

type ctlRouteIn struct {
	Bucket                string `xml:"Bucket"`
	Region                string `xml:"Region"`
	TrafficDialPercentage *int   `xml:"TrafficDialPercentage"`
}

type ctlSubmitRoutesRequest struct {
	XMLName      xml.Name     `xml:"SubmitMultiRegionAccessPointRoutesRequest"`
	RouteUpdates []ctlRouteIn `xml:"RouteUpdates>Route"`
}

// mrap validates a create request's details and returns the MRAP requested.
func (d ctlCreateDetails) mrap(account string) (storage.MRAP, error) {
	if !validMRAPName(d.Name) {
		return storage.MRAP{}, errInvalidMRAPName
	}
	if len(d.Regions) == 0 {
		return storage.MRAP{}, invalidRequest("A Multi-Region Access Point needs at least one region.")
	}
	if len(d.Regions) > maxMRAPRegions {
		return storage.MRAP{}, invalidRequest("A Multi-Region Access Point can have at most 17 regions.")
	}
	m := storage.MRAP{Account: account, Name: d.Name, PublicAccessBlock: storage.MRAPPublicAccessBlock{
		BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}}
	if p := d.PublicAccessBlock; p != nil {
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		set(&m.PublicAccessBlock.BlockPublicAcls, p.BlockPublicAcls)
		set(&m.PublicAccessBlock.IgnorePublicAcls, p.IgnorePublicAcls)
		set(&m.PublicAccessBlock.BlockPublicPolicy, p.BlockPublicPolicy)
		set(&m.PublicAccessBlock.RestrictPublicBuckets, p.RestrictPublicBuckets)
	}
	seen := make(map[string]bool, len(d.Regions))
	for _, r := range d.Regions {
		if len(r.Bucket) < 3 || len(r.Bucket) > 255 {
			return storage.MRAP{}, invalidRequest("Bucket names must be 3 to 255 characters.")
		}
		if r.BucketAccountID != "" && !validAccountID(r.BucketAccountID) {
			return storage.MRAP{}, invalidRequest("BucketAccountId must be a 12-digit account ID.")
		}
		owner := r.BucketAccountID
		if owner == "" {
			owner = account
		}
		if seen[owner+"/"+r.Bucket] {
			return storage.MRAP{}, invalidRequest("The bucket " + r.Bucket + " is listed more than once.")
		}
		seen[owner+"/"+r.Bucket] = true
		m.Regions = append(m.Regions, storage.MRAPRegion{Bucket: r.Bucket, BucketAccountID: r.BucketAccountID})
	}
	return m, nil
}

// routes validates a route update request.
func (req ctlSubmitRoutesRequest) routes() ([]storage.MRAPRoute, error) {
	if len(req.RouteUpdates) == 0 {
		return nil, invalidRequest("RouteUpdates must name at least one route.")
	}
	if len(req.RouteUpdates) > maxMRAPRegions {
		return nil, invalidRequest("A Multi-Region Access Point has at most 17 routes.")
	}
	out := make([]storage.MRAPRoute, 0, len(req.RouteUpdates))
	for _, r := range req.RouteUpdates {
		if r.Bucket == "" && r.Region == "" {
			return nil, invalidRequest("Each route must name a Bucket or a Region.")
		}
		if r.Bucket != "" && (len(r.Bucket) < 3 || len(r.Bucket) > 255) {
			return nil, invalidRequest("Bucket names must be 3 to 255 characters.")
		}
		if r.Region != "" && !validRouteRegion(r.Region) {
			return nil, invalidRequest("The region " + r.Region + " is not valid.")
		}
		if r.TrafficDialPercentage == nil {
			return nil, invalidRequest("Each route must have a TrafficDialPercentage.")
		}
		if d := *r.TrafficDialPercentage; d < 0 || d > 100 {
			return nil, invalidRequest("TrafficDialPercentage must be from 0 to 100.")
		}
		out = append(out, storage.MRAPRoute{Bucket: r.Bucket, Region: r.Region, TrafficDial: *r.TrafficDialPercentage})
	}
	return out, nil
}

// validRouteRegion reports whether s looks like a region name: lowercase
// letters, digits and hyphens, at most 64.
func validRouteRegion(s string) bool {
	if len(s) > maxRouteRegionName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ---- response documents ----

type ctlTokenResult struct {
	RequestTokenARN string `xml:"RequestTokenARN"`
}

type ctlPABOut struct {
	BlockPublicAcls       bool `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool `xml:"RestrictPublicBuckets"`
}

func pabOf(p storage.MRAPPublicAccessBlock) *ctlPABOut {
	return &ctlPABOut{BlockPublicAcls: p.BlockPublicAcls, IgnorePublicAcls: p.IgnorePublicAcls,
		BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets}
}

// ctlRegionReport is RegionReport: a bucket of an MRAP and where it is.
type ctlRegionReport struct {
	Bucket          string `xml:"Bucket"`
	Region          string `xml:"Region,omitempty"`
	BucketAccountID string `xml:"BucketAccountId,omitempty"`
}

// ctlAccessPoint is MultiRegionAccessPointReport.
type ctlAccessPoint struct {
	Name              string            `xml:"Name"`
	Alias             string            `xml:"Alias"`
	CreatedAt         string            `xml:"CreatedAt"`
	PublicAccessBlock *ctlPABOut        `xml:"PublicAccessBlock"`
	Status            string            `xml:"Status"`
	Regions           []ctlRegionReport `xml:"Regions>Region"`
}

func accessPointOf(m storage.MRAP) ctlAccessPoint {
	ap := ctlAccessPoint{Name: m.Name, Alias: m.Alias, CreatedAt: controlTime(m.Created),
		PublicAccessBlock: pabOf(m.PublicAccessBlock), Status: m.Status}
	for _, r := range m.Regions {
		owner := r.BucketAccountID
		if owner == "" {
			owner = m.Account
		}
		ap.Regions = append(ap.Regions, ctlRegionReport{Bucket: r.Bucket, Region: r.Region, BucketAccountID: owner})
	}
	return ap
}

type ctlGetResult struct {
	AccessPoint ctlAccessPoint `xml:"AccessPoint"`
}

type ctlListResult struct {
	AccessPoints []ctlAccessPoint `xml:"AccessPoints>AccessPoint"`
	NextToken    string           `xml:"NextToken,omitempty"`
}

type ctlPolicyDoc struct {
	Policy string `xml:"Policy"`
}

// ctlPolicyDocs is MultiRegionAccessPointPolicyDocument.
type ctlPolicyDocs struct {
	Established *ctlPolicyDoc `xml:"Established"`
	Proposed    *ctlPolicyDoc `xml:"Proposed"`
}

// policyDocsOf returns m's established and proposed policies. With no change
// pending the proposed policy is the established one (the same version).
func policyDocsOf(m storage.MRAP) ctlPolicyDocs {
	var d ctlPolicyDocs
	if m.Policy != "" {
		d.Established = &ctlPolicyDoc{Policy: m.Policy}
	}
	switch {
	case m.ProposedPolicy != "":
		d.Proposed = &ctlPolicyDoc{Policy: m.ProposedPolicy}
	case m.Policy != "":
		d.Proposed = &ctlPolicyDoc{Policy: m.Policy}
	}
	return d
}

type ctlGetPolicyResult struct {
	Policy ctlPolicyDocs `xml:"Policy"`
}

type ctlPolicyStatusResult struct {
	IsPublic bool `xml:"Established>IsPublic"`
}

// mrapPolicyIsPublic reports whether an established MRAP policy grants access
// to the public, by the bucket-policy rules of the policy package. No policy,
// or one that does not parse, is not public.
func mrapPolicyIsPublic(doc string) bool {
	if doc == "" {
		return false
	}
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		return false
	}
	return p.IsPublic()
}

type ctlRoute struct {
	Bucket                string `xml:"Bucket,omitempty"`
	Region                string `xml:"Region,omitempty"`
	TrafficDialPercentage int    `xml:"TrafficDialPercentage"`
}

type ctlRoutesResult struct {
	Mrap   string     `xml:"Mrap"`
	Routes []ctlRoute `xml:"Routes>Route"`
}

type ctlDescribeResult struct {
	AsyncOperation ctlAsyncOperation `xml:"AsyncOperation"`
}

// ctlAsyncOperation is AsyncOperation.
type ctlAsyncOperation struct {
	CreationTime      string                `xml:"CreationTime"`
	Operation         string                `xml:"Operation"`
	RequestTokenARN   string                `xml:"RequestTokenARN"`
	RequestParameters *ctlRequestParameters `xml:"RequestParameters"`
	RequestStatus     string                `xml:"RequestStatus"`
	ResponseDetails   *ctlResponseDetails   `xml:"ResponseDetails"`
}

type ctlCreateParams struct {
	Name              string        `xml:"Name"`
	PublicAccessBlock *ctlPABOut    `xml:"PublicAccessBlock"`
	Regions           []ctlRegionIn `xml:"Regions>Region"`
}

type ctlNameParams struct {
	Name string `xml:"Name"`
}

type ctlPolicyParams struct {
	Name   string `xml:"Name"`
	Policy string `xml:"Policy"`
}

type ctlRequestParameters struct {
	Create    *ctlCreateParams `xml:"CreateMultiRegionAccessPointRequest"`
	Delete    *ctlNameParams   `xml:"DeleteMultiRegionAccessPointRequest"`
	PutPolicy *ctlPolicyParams `xml:"PutMultiRegionAccessPointPolicyRequest"`
}

type ctlRegionStatus struct {
	Name          string `xml:"Name"`
	RequestStatus string `xml:"RequestStatus"`
}

type ctlErrorDetails struct {
	Code     string `xml:"Code"`
	Message  string `xml:"Message"`
	Resource string `xml:"Resource,omitempty"`
}

type ctlResponseDetails struct {
	Regions      []ctlRegionStatus `xml:"MultiRegionAccessPointDetails>Regions>Region"`
	ErrorDetails *ctlErrorDetails  `xml:"ErrorDetails"`
}

// asyncOperationOf renders an asynchronous MRAP request: its parameters, and
// per region (those known) its status; why it failed if it did.
func asyncOperationOf(op storage.MRAPOperation) ctlAsyncOperation {
	a := ctlAsyncOperation{CreationTime: controlTime(op.Created), Operation: op.Operation,
		RequestTokenARN: op.TokenARN, RequestStatus: op.Status, RequestParameters: &ctlRequestParameters{}}
	details := &ctlResponseDetails{}
	switch op.Operation {
	case storage.MRAPOpCreate:
		p := &ctlCreateParams{Name: op.Name}
		if m := op.Create; m != nil {
			p.PublicAccessBlock = pabOf(m.PublicAccessBlock)
			for _, r := range m.Regions {
				p.Regions = append(p.Regions, ctlRegionIn{Bucket: r.Bucket, BucketAccountID: r.BucketAccountID})
				if r.Region != "" {
					details.Regions = append(details.Regions, ctlRegionStatus{Name: r.Region, RequestStatus: op.Status})
				}
			}
		}
		a.RequestParameters.Create = p
	case storage.MRAPOpDelete:
		a.RequestParameters.Delete = &ctlNameParams{Name: op.Name}
	case storage.MRAPOpPutPolicy:
		a.RequestParameters.PutPolicy = &ctlPolicyParams{Name: op.Name, Policy: op.Policy}
	}
	if op.Status == storage.MRAPRequestFailed {
		code := op.ErrorCode
		if code == "" {
			code = "InternalError"
		}
		details.ErrorDetails = &ctlErrorDetails{Code: code, Message: op.ErrorMessage, Resource: op.Name}
	}
	if len(details.Regions) > 0 || details.ErrorDetails != nil {
		a.ResponseDetails = details
	}
	return a
}

// controlErrorBody is the error document of the S3 Control API: the wrapped
// form, which aws-sdk-go-v2's s3control client requires.
type controlErrorBody struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}
