package policy

import "testing"

const bucketObjects = "arn:aws:s3:::b/*"

func TestEvaluate_EffectsAndMatching(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:List*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/secret/*"},
		{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:Put?bject","Resource":"arn:aws:s3:::b/alice/*"}]}`)
	tests := []struct {
		name string
		req  Request
		want Decision
	}{
		{"allowed read", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/x"}, Allow},
		{"action case-insensitive", Request{Action: "S3:GETOBJECT", Resource: "arn:aws:s3:::b/x"}, Allow},
		{"action wildcard", Request{Action: "s3:ListBucketVersions", Resource: "arn:aws:s3:::b"}, Allow},
		{"explicit deny wins", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/secret/k"}, Deny},
		{"resource case-sensitive", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::B/x"}, Default},
		{"other bucket", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::c/x"}, Default},
		{"unlisted action", Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/x"}, Default},
		{"question mark", Request{Principal: "alice", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/alice/k"}, Allow},
		{"question mark is one char", Request{Principal: "alice", Action: "s3:PutObbject", Resource: "arn:aws:s3:::b/alice/k"}, Default},
		{"principal mismatch", Request{Principal: "bob", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/alice/k"}, Default},
		{"anonymous not alice", Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::b/alice/k"}, Default},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Fatalf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
	var nilPolicy *Policy
	if nilPolicy.Evaluate(Request{Action: "s3:GetObject"}) != Default {
		t.Fatal("nil policy must evaluate to Default")
	}
}

func TestEvaluate_NotElements(t *testing.T) {
	p := mustParse(t, `{"Statement":[
		{"Effect":"Deny","NotPrincipal":{"AWS":"admin"},"NotAction":["s3:Get*","s3:List*"],"Resource":"arn:aws:s3:::b/*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::b/private/*"}]}`)
	tests := []struct {
		name string
		req  Request
		want Decision
	}{
		{"not action excludes reads", Request{Principal: "bob", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}, Allow},
		{"writes denied to non-admin", Request{Principal: "bob", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k"}, Deny},
		{"admin exempt from deny", Request{Principal: "admin", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k"}, Allow},
		{"not resource excludes private", Request{Principal: "admin", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/private/k"}, Default},
		{"anonymous write denied", Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/k"}, Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Fatalf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvaluate_Principals(t *testing.T) {
	tests := []struct {
		principal string
		key       string // request access key, "" anonymous
		want      bool
	}{
		{`"*"`, "", true},
		{`"*"`, "k", true},
		{`{"AWS":"*"}`, "", true},
		{`{"AWS":["x","*"]}`, "k", true},
		{`{"AWS":"k"}`, "k", true},
		{`{"AWS":"k"}`, "j", false},
		{`{"AWS":"k"}`, "", false},
		{`{"AWS":"arn:aws:iam::000000000000:user/k"}`, "k", true},
		{`{"AWS":"arn:aws:iam::000000000000:user/k"}`, "j", false},
		{`{"AWS":"arn:aws:iam::000000000000:root"}`, "anyone", true},
		{`{"AWS":"arn:aws:iam::000000000000:root"}`, "", false},
		{`{"AWS":"000000000000"}`, "anyone", true},
		{`{"AWS":"000000000000"}`, "", false},
		{`{"AWS":"arn:aws:iam::111111111111:root"}`, "k", false},
		{`{"AWS":"arn:aws:iam::000000000000:user/*"}`, "k", false}, // no wildcards in principals
		{`{"CanonicalUser":"k"}`, "k", true},
		{`{"CanonicalUser":"k"}`, "", false},
		{`{"Service":"s3.amazonaws.com"}`, "k", false},
		{`{"Federated":"cognito-identity.amazonaws.com"}`, "k", false},
	}
	for _, tt := range tests {
		p := mustParse(t, `{"Statement":{"Effect":"Allow","Principal":`+tt.principal+`,"Action":"s3:GetObject","Resource":"*"}}`)
		got := p.Evaluate(Request{Principal: tt.key, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}) == Allow
		if got != tt.want {
			t.Errorf("Principal %s, key %q: matched=%v, want %v", tt.principal, tt.key, got, tt.want)
		}
		// NotPrincipal is the complement.
		np := mustParse(t, `{"Statement":{"Effect":"Allow","NotPrincipal":`+tt.principal+`,"Action":"s3:GetObject","Resource":"*"}}`)
		gotNot := np.Evaluate(Request{Principal: tt.key, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}) == Allow
		if gotNot == tt.want {
			t.Errorf("NotPrincipal %s, key %q: matched=%v, want %v", tt.principal, tt.key, gotNot, !tt.want)
		}
	}
}

// condCase evaluates one Condition block against request condition keys.
type condCase struct {
	name string
	cond string              // the Condition object
	keys map[string][]string // request condition keys
	want bool                // statement applies
}

func runCondCases(t *testing.T, version string, cases []condCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			v := ""
			if version != "" {
				v = `"Version":"` + version + `",`
			}
			p := mustParse(t, `{`+v+`"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":`+tt.cond+`}}`)
			got := p.Evaluate(Request{Principal: "alice", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Conditions: tt.keys}) == Allow
			if got != tt.want {
				t.Fatalf("condition %s with %v: applies=%v, want %v", tt.cond, tt.keys, got, tt.want)
			}
		})
	}
}

func keys(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func TestCondition_String(t *testing.T) {
	runCondCases(t, Version2012, []condCase{
		{"equals match", `{"StringEquals":{"s3:prefix":"a"}}`, keys("s3:prefix", "a"), true},
		{"equals any of values", `{"StringEquals":{"s3:prefix":["x","a"]}}`, keys("s3:prefix", "a"), true},
		{"equals mismatch", `{"StringEquals":{"s3:prefix":"a"}}`, keys("s3:prefix", "A"), false},
		{"equals missing key", `{"StringEquals":{"s3:prefix":"a"}}`, nil, false},
		{"equals key case-insensitive", `{"StringEquals":{"S3:Prefix":"a"}}`, keys("s3:prefix", "a"), true},
		{"equals star is literal", `{"StringEquals":{"s3:prefix":"a*"}}`, keys("s3:prefix", "abc"), false},
		{"not equals differs", `{"StringNotEquals":{"s3:prefix":"a"}}`, keys("s3:prefix", "b"), true},
		{"not equals same", `{"StringNotEquals":{"s3:prefix":["a","b"]}}`, keys("s3:prefix", "b"), false},
		{"not equals missing key", `{"StringNotEquals":{"s3:prefix":"a"}}`, nil, true},
		{"ignore case", `{"StringEqualsIgnoreCase":{"s3:prefix":"ABC"}}`, keys("s3:prefix", "abc"), true},
		{"not equals ignore case", `{"StringNotEqualsIgnoreCase":{"s3:prefix":"ABC"}}`, keys("s3:prefix", "abc"), false},
		{"like star", `{"StringLike":{"s3:prefix":"home/*"}}`, keys("s3:prefix", "home/x/y"), true},
		{"like question", `{"StringLike":{"s3:prefix":"a?c"}}`, keys("s3:prefix", "abc"), true},
		{"like mismatch", `{"StringLike":{"s3:prefix":"home/*"}}`, keys("s3:prefix", "work/x"), false},
		{"like case-sensitive", `{"StringLike":{"s3:prefix":"Home/*"}}`, keys("s3:prefix", "home/x"), false},
		{"not like", `{"StringNotLike":{"s3:prefix":"home/*"}}`, keys("s3:prefix", "work/x"), true},
		{"not like matched", `{"StringNotLike":{"s3:prefix":"home/*"}}`, keys("s3:prefix", "home/x"), false},
		{"variable in like", `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, keys("s3:prefix", "home/alice/x"), true},
		{"variable other user", `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, keys("s3:prefix", "home/bob/x"), false},
		{"variable in equals", `{"StringEquals":{"s3:prefix":"${aws:username}"}}`, keys("s3:prefix", "alice"), true},
		{"variable default", `{"StringEquals":{"s3:prefix":"${aws:foo, 'dflt'}"}}`, keys("s3:prefix", "dflt"), true},
		{"unresolved variable", `{"StringEquals":{"s3:prefix":"${aws:foo}"}}`, keys("s3:prefix", ""), false},
		{"literal star variable", `{"StringLike":{"s3:prefix":"a${*}"}}`, keys("s3:prefix", "abc"), false},
		{"literal star variable exact", `{"StringLike":{"s3:prefix":"a${*}"}}`, keys("s3:prefix", "a*"), true},
		{"two keys ANDed", `{"StringEquals":{"s3:prefix":"a","s3:delimiter":"/"}}`, keys("s3:prefix", "a"), false},
		{"two operators ANDed", `{"StringEquals":{"s3:prefix":"a"},"StringLike":{"s3:delimiter":"*"}}`, keys("s3:prefix", "a", "s3:delimiter", "/"), true},
	})
	// In the 2008-10-17 language variables are plain text.
	runCondCases(t, Version2008, []condCase{
		{"no variables in 2008", `{"StringEquals":{"s3:prefix":"${aws:username}"}}`, keys("s3:prefix", "alice"), false},
		{"literal in 2008", `{"StringEquals":{"s3:prefix":"${aws:username}"}}`, keys("s3:prefix", "${aws:username}"), true},
	})
}

func TestCondition_Numeric(t *testing.T) {
	runCondCases(t, "", []condCase{
		{"equals", `{"NumericEquals":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), true},
		{"equals float form", `{"NumericEquals":{"s3:max-keys":"10.0"}}`, keys("s3:max-keys", "10"), true},
		{"not equals", `{"NumericNotEquals":{"s3:max-keys":10}}`, keys("s3:max-keys", "11"), true},
		{"not equals same", `{"NumericNotEquals":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), false},
		{"less than", `{"NumericLessThan":{"s3:max-keys":10}}`, keys("s3:max-keys", "9"), true},
		{"less than equal boundary", `{"NumericLessThan":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), false},
		{"less than equals", `{"NumericLessThanEquals":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), true},
		{"greater than", `{"NumericGreaterThan":{"s3:max-keys":10}}`, keys("s3:max-keys", "11"), true},
		{"greater than boundary", `{"NumericGreaterThan":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), false},
		{"greater than equals", `{"NumericGreaterThanEquals":{"s3:max-keys":10}}`, keys("s3:max-keys", "10"), true},
		{"request not a number", `{"NumericLessThan":{"s3:max-keys":10}}`, keys("s3:max-keys", "x"), false},
		{"missing key", `{"NumericLessThan":{"s3:max-keys":10}}`, nil, false},
	})
}

func TestCondition_Date(t *testing.T) {
	runCondCases(t, "", []condCase{
		{"equals", `{"DateEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}`, keys("aws:CurrentTime", "2024-01-01T00:00:00Z"), true},
		{"equals other zone", `{"DateEquals":{"aws:CurrentTime":"2024-01-01T01:00:00+01:00"}}`, keys("aws:CurrentTime", "2024-01-01T00:00:00Z"), true},
		{"not equals", `{"DateNotEquals":{"aws:CurrentTime":"2024-01-01"}}`, keys("aws:CurrentTime", "2024-01-02T00:00:00Z"), true},
		{"less than", `{"DateLessThan":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}`, keys("aws:CurrentTime", "2024-05-31T23:59:59Z"), true},
		{"less than false", `{"DateLessThan":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}`, keys("aws:CurrentTime", "2024-06-01T00:00:00Z"), false},
		{"less than equals", `{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-01T00:00:00Z"}}`, keys("aws:CurrentTime", "2024-06-01T00:00:00Z"), true},
		{"greater than", `{"DateGreaterThan":{"aws:CurrentTime":"2024-06-01"}}`, keys("aws:CurrentTime", "2024-06-01T00:00:01Z"), true},
		{"greater than equals epoch", `{"DateGreaterThanEquals":{"aws:EpochTime":1700000000}}`, keys("aws:EpochTime", "1700000000"), true},
		{"epoch vs iso", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, keys("aws:CurrentTime", "1700000000"), true},
		{"bad request date", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, keys("aws:CurrentTime", "soon"), false},
	})
}

func TestCondition_BoolBinaryNull(t *testing.T) {
	runCondCases(t, "", []condCase{
		{"bool true", `{"Bool":{"aws:SecureTransport":"true"}}`, keys("aws:SecureTransport", "true"), true},
		{"bool unquoted", `{"Bool":{"aws:SecureTransport":false}}`, keys("aws:SecureTransport", "false"), true},
		{"bool mismatch", `{"Bool":{"aws:SecureTransport":"true"}}`, keys("aws:SecureTransport", "false"), false},
		{"bool missing", `{"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
		{"bool if exists missing", `{"BoolIfExists":{"aws:SecureTransport":"false"}}`, nil, true},
		{"binary equal", `{"BinaryEquals":{"k":"QUJD"}}`, keys("k", "QUJD"), true},
		{"binary differ", `{"BinaryEquals":{"k":"QUJD"}}`, keys("k", "QUJE"), false},
		{"null true absent", `{"Null":{"s3:x-amz-server-side-encryption":"true"}}`, nil, true},
		{"null true present", `{"Null":{"s3:x-amz-server-side-encryption":"true"}}`, keys("s3:x-amz-server-side-encryption", "AES256"), false},
		{"null false present", `{"Null":{"s3:x-amz-server-side-encryption":"false"}}`, keys("s3:x-amz-server-side-encryption", "AES256"), true},
		{"null false absent", `{"Null":{"s3:x-amz-server-side-encryption":false}}`, nil, false},
	})
}

func TestCondition_IP(t *testing.T) {
	runCondCases(t, "", []condCase{
		{"v4 inside", `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, keys("aws:SourceIp", "192.0.2.77"), true},
		{"v4 outside", `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, keys("aws:SourceIp", "192.0.3.1"), false},
		{"v4 single address", `{"IpAddress":{"aws:SourceIp":"192.0.2.5"}}`, keys("aws:SourceIp", "192.0.2.5"), true},
		{"v4 unmasked block", `{"IpAddress":{"aws:SourceIp":"192.0.2.5/24"}}`, keys("aws:SourceIp", "192.0.2.200"), true},
		{"v4 list", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}}`, keys("aws:SourceIp", "10.1.2.3"), true},
		{"v6 inside", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, keys("aws:SourceIp", "2001:db8:1::5"), true},
		{"v6 outside", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, keys("aws:SourceIp", "2001:db9::1"), false},
		{"v4 mapped request", `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, keys("aws:SourceIp", "::ffff:192.0.2.1"), true},
		{"v4 block v6 request", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, keys("aws:SourceIp", "2001:db8::1"), false},
		{"not ip outside", `{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, keys("aws:SourceIp", "203.0.113.1"), true},
		{"not ip inside", `{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}`, keys("aws:SourceIp", "2001:db8::1"), false},
		{"garbage request ip", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, keys("aws:SourceIp", "nope"), false},
		{"missing ip", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, nil, false},
	})
}

func TestCondition_Arn(t *testing.T) {
	const src = "arn:aws:s3:::source-bucket"
	runCondCases(t, "", []condCase{
		{"equals exact", `{"ArnEquals":{"aws:SourceArn":"` + src + `"}}`, keys("aws:SourceArn", src), true},
		{"like wildcard", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::source-*"}}`, keys("aws:SourceArn", src), true},
		{"equals allows wildcards too", `{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::*"}}`, keys("aws:SourceArn", src), true},
		{"component-wise: star does not cross colons", `{"ArnLike":{"aws:SourceArn":"arn:*:source-bucket"}}`, keys("aws:SourceArn", src), false},
		{"per-component wildcard", `{"ArnLike":{"aws:SourceArn":"arn:aws:*:*:*:source-bucket"}}`, keys("aws:SourceArn", src), true},
		{"request not an arn", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, keys("aws:SourceArn", "source-bucket"), false},
		{"not equals", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::other"}}`, keys("aws:SourceArn", src), true},
		{"not like matched", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::source*"}}`, keys("aws:SourceArn", src), false},
		{"not like missing", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::source*"}}`, nil, true},
	})
}

func TestCondition_IfExistsAndSetQualifiers(t *testing.T) {
	runCondCases(t, "", []condCase{
		{"if exists absent", `{"StringEqualsIfExists":{"s3:prefix":"a"}}`, nil, true},
		{"if exists present match", `{"StringEqualsIfExists":{"s3:prefix":"a"}}`, keys("s3:prefix", "a"), true},
		{"if exists present mismatch", `{"StringEqualsIfExists":{"s3:prefix":"a"}}`, keys("s3:prefix", "b"), false},
		{"numeric if exists", `{"NumericLessThanIfExists":{"s3:max-keys":5}}`, keys("s3:max-keys", "6"), false},
		{"ip if exists absent", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, nil, true},

		{"any value one matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, keys("aws:TagKeys", "x", "aws:TagKeys", "b"), true},
		{"any value none match", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}`, keys("aws:TagKeys", "x", "aws:TagKeys", "y"), false},
		{"any value absent", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}`, nil, false},
		{"any value absent if exists", `{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":["a"]}}`, nil, true},
		{"any value negated", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a"]}}`, keys("aws:TagKeys", "a", "aws:TagKeys", "z"), true},
		{"any value negated all excluded", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","z"]}}`, keys("aws:TagKeys", "a", "aws:TagKeys", "z"), false},
		{"any value like", `{"ForAnyValue:StringLike":{"aws:TagKeys":"env*"}}`, keys("aws:TagKeys", "owner", "aws:TagKeys", "environment"), true},

		{"all values subset", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b","c"]}}`, keys("aws:TagKeys", "a", "aws:TagKeys", "c"), true},
		{"all values one outside", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}`, keys("aws:TagKeys", "a", "aws:TagKeys", "z"), false},
		{"all values absent", `{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}`, nil, true},
		{"all values negated", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}`, keys("aws:TagKeys", "x", "aws:TagKeys", "y"), true},
		{"all values negated hit", `{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a"]}}`, keys("aws:TagKeys", "x", "aws:TagKeys", "a"), false},
		{"all values numeric", `{"ForAllValues:NumericLessThan":{"k":10}}`, keys("k", "1", "k", "9"), true},
	})
}

func TestEvaluate_ResourceVariables(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"000000000000"},
		"Action":"s3:*","Resource":"arn:aws:s3:::b/home/${aws:username}/*"}}`)
	req := func(user, key string) Request {
		return Request{Principal: user, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/" + key}
	}
	if p.Evaluate(req("alice", "home/alice/x")) != Allow {
		t.Error("alice denied her own home")
	}
	if p.Evaluate(req("alice", "home/bob/x")) != Default {
		t.Error("alice allowed into bob's home")
	}
	// A user name containing '*' must not act as a wildcard.
	if p.Evaluate(req("*", "home/bob/x")) != Default {
		t.Error("user named * matched as a wildcard")
	}
	// An explicit aws:username overrides the access-key default.
	r := req("AKID", "home/carol/x")
	r.Conditions = map[string][]string{"aws:username": {"carol"}}
	if p.Evaluate(r) != Allow {
		t.Error("explicit aws:username ignored")
	}
}
