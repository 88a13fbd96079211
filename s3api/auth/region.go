package auth

import "strings"

// CheckRegion reports whether the request's signature is valid in region, the
// region that serves it: the region owning the addressed bucket, or the
// endpoint's own for requests that name none. A SigV4 credential scope must name
// exactly that region; a SigV4A X-Amz-Region-Set must contain it, literally or
// through a pattern ("*", "us-*"). Anonymous and SigV2 requests are bound to no
// region. The error is the one S3 answers: 400 AuthorizationHeaderMalformed for
// a signed header, AuthorizationQueryParametersError for a presigned URL, with
// the expected region in Error.Region.
//
// Verify cannot make this check: which region owns a bucket is known only once
// the request has been routed and the bucket looked up, and a request forwarded
// between regions must be checked against the bucket's region, not against the
// region of the endpoint that received it.
func (r *Result) CheckRegion(region string) error {
	if r == nil || len(r.RegionSet) == 0 {
		return nil
	}
	presigned := strings.HasSuffix(r.Method, "-Presigned")
	switch r.Method {
	case "SigV4", "SigV4-Presigned":
		if r.RegionSet[0] == region {
			return nil
		}
		// S3's messages, verbatim: clients and people search for them.
		if presigned {
			return &Error{Code: codeQueryParametersError, Region: region,
				Message: "Error parsing the X-Amz-Credential parameter; the region '" + r.RegionSet[0] + "' is wrong; expecting '" + region + "'"}
		}
		return &Error{Code: codeHeaderMalformed, Region: region,
			Message: "The authorization header is malformed; the region '" + r.RegionSet[0] + "' is wrong; expecting '" + region + "'"}
	case "SigV4A", "SigV4A-Presigned":
		for _, pattern := range r.RegionSet {
			if regionMatches(pattern, region) {
				return nil
			}
		}
		// S3 documents no error for a region set that leaves out the region; the
		// SigV4 codes are the closest, and their Region element tells SDKs what to
		// sign for.
		set := strings.Join(r.RegionSet, ",")
		if presigned {
			return &Error{Code: codeQueryParametersError, Region: region,
				Message: "Error parsing the X-Amz-Region-Set parameter; the region set '" + set + "' does not include '" + region + "'"}
		}
		return &Error{Code: codeHeaderMalformed, Region: region,
			Message: "The authorization header is malformed; the region set '" + set + "' does not include '" + region + "'"}
	}
	return nil
}

// regionMatches reports whether a SigV4A region-set entry covers region. An
// entry is a region name or a pattern in which '*' stands for any run of
// characters ("*" for every region, "us-*" for every US region), as the AWS
// signers document for X-Amz-Region-Set.
func regionMatches(pattern, region string) bool {
	first, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == region
	}
	if !strings.HasPrefix(region, first) {
		return false
	}
	region = region[len(first):]
	// Each further segment must appear in order; the last one must end region.
	segs := strings.Split(rest, "*")
	for i, seg := range segs {
		if i == len(segs)-1 {
			return strings.HasSuffix(region, seg)
		}
		j := strings.Index(region, seg)
		if j < 0 {
			return false
		}
		region = region[j+len(seg):]
	}
	return true
}
