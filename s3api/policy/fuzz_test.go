package policy

import (
	"errors"
	"reflect"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`,
		`{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"1","Effect":"Deny","NotPrincipal":{"AWS":["k","000000000000"],"CanonicalUser":"c"},"NotAction":"s3:Get*","NotResource":["arn:aws:s3:::b","*"]}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"s3:prefix":["home/${aws:username}/*"]},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"Null":{"k":"true"},"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}}]}`,
		`{"Statement":[]}`,
		`{}`,
		`[`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != ErrCodeMalformedPolicy {
				t.Fatalf("error is not a MalformedPolicy *Error: %v", err)
			}
			return
		}
		// Evaluation and the other read paths must not panic on anything Parse accepts.
		req := Request{Principal: "k", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k",
			Conditions: map[string][]string{"s3:prefix": {"home/k/x"}, "aws:SourceIp": {"10.1.2.3"}, "aws:CurrentTime": {"2024-01-01T00:00:00Z"}}}
		p.Evaluate(req)
		p.Evaluate(Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"})
		p.IsPublic()
		_ = p.ValidateForBucket("b")

		out := p.JSON()
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", out, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the policy:\n%#v\n%#v", p, q)
		}
	})
}

func FuzzParsePublicAccessBlock(f *testing.F) {
	for _, s := range []string{
		`<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>`,
		`<?xml version="1.0"?><PublicAccessBlockConfiguration/>`,
		`<PublicAccessBlockConfiguration><X/></PublicAccessBlockConfiguration>`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParsePublicAccessBlock(doc)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != ErrCodeMalformedXML {
				t.Fatalf("error is not a MalformedXML *Error: %v", err)
			}
			return
		}
		again, err := ParsePublicAccessBlock(c.XML())
		if err != nil || again != c {
			t.Fatalf("round trip: %+v -> %+v, %v", c, again, err)
		}
	})
}
