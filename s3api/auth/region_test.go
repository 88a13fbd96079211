package auth

import (
	"errors"
	"testing"
)

func TestRegionMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, region string
		want            bool
	}{
		{"*", "us-east-1", true},
		{"us-east-1", "us-east-1", true},
		{"us-east-1", "us-east-2", false},
		{"us-*", "us-east-1", true},
		{"us-*", "eu-west-1", false},
		{"*-1", "eu-west-1", true},
		{"*-1", "eu-west-2", false},
		{"us-*-1", "us-west-1", true},
		{"us-*-1", "us-west-2", false},
		{"u*s*1", "us-east-1", true},
		{"us-east-1*", "us-east-1", true},
		{"us-east-1-*", "us-east-1", false},
		{"*b*b", "b", false},
		{"*b*b", "bb", true},
		{"", "us-east-1", false},
		{"US-EAST-1", "us-east-1", false},
	} {
		if got := regionMatches(c.pattern, c.region); got != c.want {
			t.Errorf("regionMatches(%q, %q) = %v, want %v", c.pattern, c.region, got, c.want)
		}
	}
}

func TestResult_CheckRegion(t *testing.T) {
	for _, c := range []struct {
		name string
		res  *Result
		code string
		msg  string
	}{
		{"anonymous", &Result{Anonymous: true, Method: "Anonymous"}, "", ""},
		{"sigv2", &Result{AccessKey: "a", Method: "SigV2"}, "", ""},
		{"sigv4 right", &Result{Method: "SigV4", RegionSet: []string{"us-east-1"}}, "", ""},
		{"sigv4 wrong", &Result{Method: "SigV4", RegionSet: []string{"eu-west-1"}}, codeHeaderMalformed,
			"The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"},
		{"presigned wrong", &Result{Method: "SigV4-Presigned", RegionSet: []string{"zz-nowhere-9"}}, codeQueryParametersError,
			"Error parsing the X-Amz-Credential parameter; the region 'zz-nowhere-9' is wrong; expecting 'us-east-1'"},
		{"sigv4a star", &Result{Method: "SigV4A", RegionSet: []string{"*"}}, "", ""},
		{"sigv4a pattern", &Result{Method: "SigV4A-Presigned", RegionSet: []string{"eu-*", "us-*"}}, "", ""},
		{"sigv4a excluded", &Result{Method: "SigV4A", RegionSet: []string{"eu-west-1", "ap-*"}}, codeHeaderMalformed,
			"The authorization header is malformed; the region set 'eu-west-1,ap-*' does not include 'us-east-1'"},
		{"sigv4a presigned excluded", &Result{Method: "SigV4A-Presigned", RegionSet: []string{"eu-west-1"}}, codeQueryParametersError,
			"Error parsing the X-Amz-Region-Set parameter; the region set 'eu-west-1' does not include 'us-east-1'"},
	} {
		err := c.res.CheckRegion("us-east-1")
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || e.Message != c.msg || e.Region != "us-east-1" || e.StatusCode() != 400 {
			t.Errorf("%s: %#v, want %s %q with Region us-east-1", c.name, err, c.code, c.msg)
		}
	}
}
