package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestIsPublic(t *testing.T) {
	stmt := func(effect, principal, cond string) string {
		c := ""
		if cond != "" {
			c = `,"Condition":` + cond
		}
		return `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":` + principal +
			`,"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"` + c + `}]}`
	}
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		{"star principal", stmt("Allow", `"*"`, ""), true},
		{"AWS star principal", stmt("Allow", `{"AWS":"*"}`, ""), true},
		{"AWS star among others", stmt("Allow", `{"AWS":["alice","*"]}`, ""), true},
		{"wildcard account", stmt("Allow", `{"AWS":"arn:aws:iam::*:root"}`, ""), true},
		{"fixed principal", stmt("Allow", `{"AWS":"arn:aws:iam::000000000000:root"}`, ""), false},
		{"service principal", stmt("Allow", `{"Service":"cloudfront.amazonaws.com"}`, ""), false},
		{"deny to everyone", stmt("Deny", `"*"`, ""), false},
		{"not principal allow", `{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"*"}}`, true},
		// The AWS documentation's aws:SourceVpc pair: a wildcard is not a fixed value.
		{"source vpc wildcard", stmt("Allow", `"*"`, `{"StringLike":{"aws:SourceVpc":"vpc-*"}}`), true},
		{"source vpc fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:SourceVpc":"vpc-91237329"}}`), false},
		{"source vpce fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`), false},
		{"source arn fixed", stmt("Allow", `"*"`, `{"ArnEquals":{"aws:SourceArn":"arn:aws:cloudfront::000000000000:distribution/E1"}}`), false},
		{"source arn wildcard", stmt("Allow", `"*"`, `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudfront::*:distribution/*"}}`), true},
		{"source account fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:SourceAccount":"000000000000"}}`), false},
		{"source owner fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:SourceOwner":"000000000000"}}`), false},
		{"principal org fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`), false},
		{"userid fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:userid":"AIDAEXAMPLE"}}`), false},
		{"userid role session pattern", stmt("Allow", `"*"`, `{"StringLike":{"aws:userid":"AROAEXAMPLE:*"}}`), false},
		{"userid wildcard", stmt("Allow", `"*"`, `{"StringLike":{"aws:userid":"*"}}`), true},
		{"access point fixed", stmt("Allow", `"*"`, `{"StringEquals":{"s3:DataAccessPointAccount":"000000000000"}}`), false},
		{"kms key fixed", stmt("Allow", `"*"`, `{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:us-east-1:000000000000:key/k"}}`), false},
		{"key name case-insensitive", stmt("Allow", `"*"`, `{"StringEquals":{"AWS:SOURCEVPC":"vpc-1"}}`), false},
		{"negated operator does not confine", stmt("Allow", `"*"`, `{"StringNotEquals":{"aws:SourceVpc":"vpc-1"}}`), true},
		{"if exists does not confine", stmt("Allow", `"*"`, `{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}`), true},
		{"for all values does not confine", stmt("Allow", `"*"`, `{"ForAllValues:StringEquals":{"aws:SourceVpc":"vpc-1"}}`), true},
		{"unrelated key does not confine", stmt("Allow", `"*"`, `{"StringEquals":{"s3:prefix":"home/"}}`), true},
		{"variable is not fixed", stmt("Allow", `"*"`, `{"StringEquals":{"aws:SourceAccount":"${aws:username}"}}`), true},
		{"private cidr", stmt("Allow", `"*"`, `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`), false},
		{"private cidr list", stmt("Allow", `"*"`, `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/48"]}}`), false},
		{"all ipv4", stmt("Allow", `"*"`, `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`), true},
		{"half the internet", stmt("Allow", `"*"`, `{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}`), true},
		{"one wide block in list", stmt("Allow", `"*"`, `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::/0"]}}`), true},
		{"not ip address does not confine", stmt("Allow", `"*"`, `{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`), true},
		{"two statements, one public", `{"Statement":[
			{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:*","Resource":"*"},
			{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.doc).IsPublic(); got != tt.want {
				t.Fatalf("IsPublic = %v, want %v", got, tt.want)
			}
		})
	}
	var nilPolicy *Policy
	if nilPolicy.IsPublic() {
		t.Fatal("nil policy reported public")
	}
}

func TestParsePublicAccessBlock(t *testing.T) {
	const ns = ` xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	valid := []struct {
		name string
		doc  string
		want PublicAccessBlock
	}{
		{"all true", `<?xml version="1.0" encoding="UTF-8"?>
			<PublicAccessBlockConfiguration` + ns + `>
			  <BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>
			  <BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets>
			</PublicAccessBlockConfiguration>`, PublicAccessBlock{true, true, true, true}},
		{"some, any order, no namespace", `<PublicAccessBlockConfiguration><RestrictPublicBuckets> true </RestrictPublicBuckets><BlockPublicAcls>false</BlockPublicAcls></PublicAccessBlockConfiguration>`,
			PublicAccessBlock{RestrictPublicBuckets: true}},
		{"empty", `<PublicAccessBlockConfiguration` + ns + `/>`, PublicAccessBlock{}},
		{"comment", `<PublicAccessBlockConfiguration><!-- x --><BlockPublicPolicy>true</BlockPublicPolicy></PublicAccessBlockConfiguration>`, PublicAccessBlock{BlockPublicPolicy: true}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicAccessBlock([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			again, err := ParsePublicAccessBlock(got.XML())
			if err != nil || again != got {
				t.Fatalf("XML round trip: %+v, %v", again, err)
			}
		})
	}
	invalid := []struct{ name, doc string }{
		{"empty body", ``},
		{"not xml", `hello`},
		{"unclosed", `<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls>`},
		{"wrong root", `<PublicAccessBlock><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlock>`},
		{"wrong namespace", `<PublicAccessBlockConfiguration xmlns="urn:x"/>`},
		{"unknown element", `<PublicAccessBlockConfiguration><BlockEverything>true</BlockEverything></PublicAccessBlockConfiguration>`},
		{"bad value", `<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>`},
		{"capitalised value", `<PublicAccessBlockConfiguration><BlockPublicAcls>TRUE</BlockPublicAcls></PublicAccessBlockConfiguration>`},
		{"empty value", `<PublicAccessBlockConfiguration><BlockPublicAcls/></PublicAccessBlockConfiguration>`},
		{"duplicate", `<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><BlockPublicAcls>false</BlockPublicAcls></PublicAccessBlockConfiguration>`},
		{"nested", `<PublicAccessBlockConfiguration><BlockPublicAcls><x/></BlockPublicAcls></PublicAccessBlockConfiguration>`},
		{"text in root", `<PublicAccessBlockConfiguration>oops<BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>`},
		{"two roots", `<PublicAccessBlockConfiguration/><PublicAccessBlockConfiguration/>`},
		{"trailing text", `<PublicAccessBlockConfiguration/>x`},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><PublicAccessBlockConfiguration/>`},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicAccessBlock([]byte(tt.doc))
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "MalformedXML" {
				t.Fatalf("error %v, want MalformedXML *Error", err)
			}
		})
	}
}

func TestPublicAccessBlock_XML(t *testing.T) {
	got := string(PublicAccessBlock{BlockPublicAcls: true, RestrictPublicBuckets: true}.XML())
	want := `<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>` +
		`<BlockPublicPolicy>false</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets>` +
		`</PublicAccessBlockConfiguration>`
	if got != want {
		t.Fatalf("XML:\n%s\nwant\n%s", got, want)
	}
	if strings.HasPrefix(got, "<?xml") {
		t.Fatal("XML must not carry a declaration")
	}
}
