package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func TestParse_Valid(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *Policy
	}{
		{
			name: "single statement object, string forms",
			doc: `{"Version":"2012-10-17","Id":"p1","Statement":{"Sid":"s","Effect":"Allow",
				"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`,
			want: &Policy{Version: Version2012, ID: "p1", Statements: []Statement{{
				Sid: "s", Effect: EffectAllow, Principal: &Principal{All: true},
				Action: []string{"s3:GetObject"}, Resource: []string{"arn:aws:s3:::b/*"},
			}}},
		},
		{
			name: "array forms, principal map, not-elements",
			doc: `{"Version":"2008-10-17","Statement":[{"Effect":"Deny",
				"NotPrincipal":{"AWS":["arn:aws:iam::000000000000:root","k1"],"CanonicalUser":"k2","Service":"s3.amazonaws.com","Federated":"cognito"},
				"NotAction":["s3:Get*","S3:List?ucket"],"NotResource":["arn:aws:s3:::b","*"]}]}`,
			want: &Policy{Version: Version2008, Statements: []Statement{{
				Effect: EffectDeny,
				NotPrincipal: &Principal{AWS: []string{"arn:aws:iam::000000000000:root", "k1"},
					CanonicalUser: []string{"k2"}, Service: []string{"s3.amazonaws.com"}, Federated: []string{"cognito"}},
				NotAction:   []string{"s3:Get*", "S3:List?ucket"},
				NotResource: []string{"arn:aws:s3:::b", "*"},
			}}},
		},
		{
			name: "no version, conditions with numbers and booleans, sorted",
			doc: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*",
				"Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":false},
				"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}]}`,
			want: &Policy{Statements: []Statement{{
				Effect: EffectAllow, Principal: &Principal{AWS: []string{"*"}},
				Action: []string{"*"}, Resource: []string{"*"},
				Conditions: []Condition{
					{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"false"}},
					{Operator: "IpAddress", Key: "aws:SourceIp", Values: []string{"10.0.0.0/8", "2001:db8::/32"}},
					{Operator: "NumericLessThan", Key: "s3:max-keys", Values: []string{"10"}},
				},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.doc)
			// The parsed operators are internal; compare the visible fields.
			for i := range got.Statements {
				for j := range got.Statements[i].Conditions {
					got.Statements[i].Conditions[j].op = operator{}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	stmt := func(body string) string {
		return `{"Version":"2012-10-17","Statement":[` + body + `]}`
	}
	const ok = `"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
	tests := []struct {
		name, doc, msg string
	}{
		{"empty", ``, "valid JSON"},
		{"not json", `{"Version":`, "valid JSON"},
		{"array at top", `[]`, "valid JSON"},
		{"trailing garbage", `{"Statement":[{` + ok + `}]} x`, "valid JSON"},
		{"too large", `{"Id":"` + strings.Repeat("x", MaxPolicySize) + `"}`, "less than"},
		{"bad version", `{"Version":"2020-01-01","Statement":[{` + ok + `}]}`, "valid version"},
		{"version not string", `{"Version":2012,"Statement":[{` + ok + `}]}`, "valid version"},
		{"unknown top field", `{"Statement":[{` + ok + `}],"Foo":1}`, "Unknown field Foo"},
		{"lower-case field", `{"statement":[{` + ok + `}]}`, "Unknown field statement"},
		{"missing statement", `{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{"empty statement array", `{"Statement":[]}`, "Statement is not well formed"},
		{"statement string", `{"Statement":"x"}`, "Statement is not well formed"},
		{"statement null item", `{"Statement":[null]}`, "Statement is not well formed"},
		{"missing effect", stmt(`{"Principal":"*","Action":"s3:GetObject","Resource":"*"}`), "Missing required field Effect"},
		{"bad effect", stmt(`{"Effect":"allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`), "Invalid effect"},
		{"missing principal", stmt(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), "Missing required field Principal"},
		{"both principals", stmt(`{` + ok + `,"NotPrincipal":"*"}`), "both Principal and NotPrincipal"},
		{"principal string not star", stmt(`{"Effect":"Allow","Principal":"bob","Action":"s3:GetObject","Resource":"*"}`), "Invalid principal"},
		{"principal unknown kind", stmt(`{"Effect":"Allow","Principal":{"Bob":"x"},"Action":"s3:GetObject","Resource":"*"}`), "Invalid principal"},
		{"principal empty list", stmt(`{"Effect":"Allow","Principal":{"AWS":[]},"Action":"s3:GetObject","Resource":"*"}`), "Invalid principal"},
		{"principal empty value", stmt(`{"Effect":"Allow","Principal":{"AWS":" "},"Action":"s3:GetObject","Resource":"*"}`), "Invalid principal"},
		{"principal empty object", stmt(`{"Effect":"Allow","Principal":{},"Action":"s3:GetObject","Resource":"*"}`), "Invalid principal"},
		{"missing action", stmt(`{"Effect":"Allow","Principal":"*","Resource":"*"}`), "Missing required field Action"},
		{"both actions", stmt(`{` + ok + `,"NotAction":"s3:PutObject"}`), "both Action and NotAction"},
		{"action other service", stmt(`{"Effect":"Allow","Principal":"*","Action":"iam:PassRole","Resource":"*"}`), "invalid action"},
		{"action no service", stmt(`{"Effect":"Allow","Principal":"*","Action":"GetObject","Resource":"*"}`), "invalid action"},
		{"action bad chars", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:Get Object","Resource":"*"}`), "invalid action"},
		{"action empty list", stmt(`{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}`), "invalid action"},
		{"action number", stmt(`{"Effect":"Allow","Principal":"*","Action":5,"Resource":"*"}`), "invalid action"},
		{"missing resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`), "Missing required field Resource"},
		{"both resources", stmt(`{` + ok + `,"NotResource":"*"}`), "both Resource and NotResource"},
		{"resource not arn", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"bucket/*"}`), "invalid resource"},
		{"resource other service", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:sqs:::q"}`), "invalid resource"},
		{"unknown statement field", stmt(`{` + ok + `,"Extra":1}`), "Unknown field Extra"},
		{"unknown operator", stmt(`{` + ok + `,"Condition":{"StringEqualz":{"a":"b"}}}`), "Invalid Condition type"},
		{"operator wrong case", stmt(`{` + ok + `,"Condition":{"stringequals":{"a":"b"}}}`), "Invalid Condition type"},
		{"bad qualifier", stmt(`{` + ok + `,"Condition":{"ForSomeValues:StringEquals":{"a":"b"}}}`), "Invalid Condition type"},
		{"null if exists", stmt(`{` + ok + `,"Condition":{"NullIfExists":{"a":"true"}}}`), "Invalid Condition type"},
		{"bad cidr", stmt(`{` + ok + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), "Invalid value"},
		{"bad number", stmt(`{` + ok + `,"Condition":{"NumericEquals":{"s3:max-keys":"ten"}}}`), "Invalid value"},
		{"bad date", stmt(`{` + ok + `,"Condition":{"DateLessThan":{"aws:CurrentTime":"yesterday"}}}`), "Invalid value"},
		{"bad bool", stmt(`{` + ok + `,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), "Invalid value"},
		{"bad null value", stmt(`{` + ok + `,"Condition":{"Null":{"s3:prefix":"maybe"}}}`), "Invalid value"},
		{"bad binary", stmt(`{` + ok + `,"Condition":{"BinaryEquals":{"k":"!!"}}}`), "Invalid value"},
		{"condition value object", stmt(`{` + ok + `,"Condition":{"StringEquals":{"a":{"b":"c"}}}}`), "Invalid value"},
		{"condition value null", stmt(`{` + ok + `,"Condition":{"StringEquals":{"a":null}}}`), "Invalid value"},
		{"condition empty array", stmt(`{` + ok + `,"Condition":{"StringEquals":{"a":[]}}}`), "Invalid value"},
		{"condition not object", stmt(`{` + ok + `,"Condition":"x"}`), "not well formed"},
		{"condition operator body not object", stmt(`{` + ok + `,"Condition":{"StringEquals":"x"}}`), "not well formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "MalformedPolicy" {
				t.Fatalf("error %v is not a MalformedPolicy *Error", err)
			}
			if !strings.Contains(pe.Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", pe.Message, tt.msg)
			}
		})
	}
}

func TestParse_OperatorForms(t *testing.T) {
	for _, op := range []string{
		"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
		"StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
		"StringEqualsIfExists", "ForAnyValue:StringLike", "ForAllValues:StringNotEqualsIfExists",
	} {
		doc := `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"` + op + `":{"k":"v"}}}}`
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: %v", op, err)
		}
	}
}

func TestPolicy_JSON_RoundTrip(t *testing.T) {
	doc := `{"Version":"2012-10-17","Id":"x","Statement":[
		{"Sid":"a","Effect":"Allow","Principal":{"AWS":"*","Service":["s"]},"Action":"s3:GetObject",
		 "Resource":["arn:aws:s3:::b/*"],"Condition":{"StringLike":{"s3:prefix":["home/${aws:username}/*"],"aws:Referer":"x"},"Bool":{"aws:SecureTransport":true}}},
		{"Effect":"Deny","NotPrincipal":"*","NotAction":"s3:*","NotResource":"*"}]}`
	p := mustParse(t, doc)
	out := p.JSON()
	q, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse %s: %v", out, err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip changed the policy\n%+v\n%+v", p, q)
	}
	if string(q.JSON()) != string(out) {
		t.Fatalf("canonical form not stable:\n%s\n%s", out, q.JSON())
	}
}

func TestValidateForBucket(t *testing.T) {
	tests := []struct {
		name     string
		actions  string
		resource string
		msg      string // "" = valid
	}{
		{"object action on objects", `"s3:GetObject"`, `"arn:aws:s3:::b/*"`, ""},
		{"bucket action on bucket", `"s3:ListBucket"`, `"arn:aws:s3:::b"`, ""},
		{"star resource", `"s3:GetObject"`, `"*"`, ""},
		{"bucket wildcard covers both", `["s3:ListBucket","s3:GetObject"]`, `"arn:aws:s3:::b*"`, ""},
		{"variable in resource", `"s3:GetObject"`, `"arn:aws:s3:::b/home/${aws:username}/*"`, ""},
		{"question mark bucket", `"s3:ListBucket"`, `"arn:aws:s3:::?"`, ""},
		{"wildcard actions skip check", `"s3:Get*"`, `"arn:aws:s3:::b"`, ""},
		{"unknown action skips check", `"s3:FrobnicateObject"`, `"arn:aws:s3:::b"`, ""},
		{"mixed list", `["s3:ListBucket","s3:GetObject"]`, `["arn:aws:s3:::b","arn:aws:s3:::b/*"]`, ""},
		{"other bucket", `"s3:GetObject"`, `"arn:aws:s3:::other/*"`, "invalid resource"},
		{"longer bucket name", `"s3:ListBucket"`, `"arn:aws:s3:::bb"`, "invalid resource"},
		{"access point arn", `"s3:GetObject"`, `"arn:aws:s3:us-east-1:000000000000:accesspoint/ap/object/*"`, "invalid resource"},
		{"object action on bucket only", `"s3:GetObject"`, `"arn:aws:s3:::b"`, "Action does not apply"},
		{"bucket action on objects only", `"s3:ListBucket"`, `"arn:aws:s3:::b/*"`, "Action does not apply"},
		{"case-insensitive action name", `"S3:getobject"`, `"arn:aws:s3:::b"`, "Action does not apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, `{"Statement":{"Effect":"Allow","Principal":"*","Action":`+tt.actions+`,"Resource":`+tt.resource+`}}`)
			err := p.ValidateForBucket("b")
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "MalformedPolicy" || !strings.Contains(pe.Message, tt.msg) {
				t.Fatalf("error %v, want MalformedPolicy containing %q", err, tt.msg)
			}
		})
	}
	t.Run("not resource checked", func(t *testing.T) {
		p := mustParse(t, `{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::x/*"}}`)
		if err := p.ValidateForBucket("b"); err == nil {
			t.Fatal("NotResource outside the bucket accepted")
		}
	})
}
