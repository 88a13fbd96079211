package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const role = `<Role>arn:aws:iam::000000000000:role/replication</Role>`

func doc(rules ...string) string {
	return `<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + role +
		strings.Join(rules, "") + `</ReplicationConfiguration>`
}

// v2 builds a V2 rule; extra is spliced in before Destination, dest inside it.
func v2(id string, priority int, filter, extra, dest string) string {
	return fmt.Sprintf(`<Rule><ID>%s</ID><Priority>%d</Priority><Filter>%s</Filter><Status>Enabled</Status>%s`+
		`<Destination><Bucket>arn:aws:s3:::dest</Bucket>%s</Destination>`+
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication></Rule>`, id, priority, filter, extra, dest)
}

func mustParse(t *testing.T, s string) *Configuration {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func TestParse_Valid(t *testing.T) {
	t.Run("full V2 rule", func(t *testing.T) {
		c := mustParse(t, `<?xml version="1.0" encoding="UTF-8"?>
<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Role>arn:aws:iam::000000000000:role/r</Role>
  <Rule>
    <ID>all</ID>
    <Priority>2</Priority>
    <Filter><And><Prefix>logs/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k2</Key><Value></Value></Tag></And></Filter>
    <Status>Enabled</Status>
    <SourceSelectionCriteria>
      <SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects>
      <ReplicaModifications><Status>Enabled</Status></ReplicaModifications>
    </SourceSelectionCriteria>
    <ExistingObjectReplication><Status>Disabled</Status></ExistingObjectReplication>
    <Destination>
      <Bucket>arn:aws:s3:::dest-bucket</Bucket>
      <Account>000000000000</Account>
      <StorageClass>STANDARD_IA</StorageClass>
      <AccessControlTranslation><Owner>Destination</Owner></AccessControlTranslation>
      <EncryptionConfiguration><ReplicaKmsKeyID>arn:aws:kms:us-east-1:000000000000:key/k</ReplicaKmsKeyID></EncryptionConfiguration>
      <ReplicationTime><Status>Enabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime>
      <Metrics><Status>Enabled</Status><EventThreshold><Minutes>15</Minutes></EventThreshold></Metrics>
    </Destination>
    <DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
  </Rule>
</ReplicationConfiguration>`)
		want := &Configuration{Role: "arn:aws:iam::000000000000:role/r", Rules: []Rule{{
			ID: "all", Priority: ptr(2),
			Filter: &Filter{And: &And{Prefix: ptr("logs/"), Tags: []Tag{{"k", "v"}, {"k2", ""}}}},
			Status: Enabled,
			SourceSelectionCriteria: &SourceSelectionCriteria{
				SseKmsEncryptedObjects: &StatusConfig{Enabled}, ReplicaModifications: &StatusConfig{Enabled}},
			ExistingObjectReplication: &StatusConfig{Disabled},
			Destination: Destination{
				Bucket: "arn:aws:s3:::dest-bucket", Account: "000000000000", StorageClass: "STANDARD_IA",
				AccessControlTranslation: &AccessControlTranslation{Owner: "Destination"},
				EncryptionConfiguration:  &EncryptionConfiguration{ReplicaKmsKeyID: "arn:aws:kms:us-east-1:000000000000:key/k"},
				ReplicationTime:          &ReplicationTime{Status: Enabled, Time: TimeValue{Minutes: ptr(15)}},
				Metrics:                  &Metrics{Status: Enabled, EventThreshold: &TimeValue{Minutes: ptr(15)}},
			},
			DeleteMarkerReplication: &StatusConfig{Disabled},
		}}}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("got  %+v\nwant %+v", c, want)
		}
		if !c.Rules[0].ReplicatesReplicaModifications() || !c.Rules[0].ReplicationTimeEnabled() || c.Rules[0].ReplicatesDeleteMarkers() {
			t.Fatal("helper accessors disagree with the parsed rule")
		}
		if got := c.Rules[0].Destination.BucketName(); got != "dest-bucket" {
			t.Fatalf("BucketName = %q", got)
		}
	})
	valid := []struct{ name, doc string }{
		{"minimal V2 empty filter", doc(v2("a", 1, ``, ``, ``))},
		{"V2 prefix filter", doc(v2("a", 1, `<Prefix>p/</Prefix>`, ``, ``))},
		{"V2 empty prefix", doc(v2("a", 1, `<Prefix></Prefix>`, ``, ``))},
		{"V2 tag filter", doc(v2("a", 1, `<Tag><Key>k</Key><Value>v</Value></Tag>`, ``, ``))},
		{"two V2 rules", doc(v2("a", 1, ``, ``, ``), v2("b", 2, ``, ``, ``))},
		{"no namespace", `<ReplicationConfiguration>` + role + `<Rule><Prefix></Prefix><Status>Disabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule></ReplicationConfiguration>`},
		{"V1 rules disjoint prefixes", doc(
			`<Rule><ID>x</ID><Prefix>a/</Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`,
			`<Rule><Prefix>b/</Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`)},
		{"rules without IDs", doc(v2("", 1, ``, ``, ``), v2("", 2, ``, ``, ``))},
		{"RTC disabled without metrics", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Disabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime>`))},
		{"metrics without threshold", doc(v2("a", 1, ``, ``, `<Metrics><Status>Enabled</Status></Metrics>`))},
		{"delete marker replication without status", strings.Replace(doc(v2("a", 1, ``, ``, ``)), `<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>`, `<DeleteMarkerReplication/>`, 1)},
		{"id of 255 chars", doc(v2(strings.Repeat("i", 255), 1, ``, ``, ``))},
		{"1000 rules", doc(manyRules(1000)...)},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc)
			again, err := Parse(c.XML())
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%s", err, c.XML())
			}
			if !reflect.DeepEqual(c, again) {
				t.Fatalf("round trip changed the configuration\n%+v\n%+v", c, again)
			}
		})
	}
}

func manyRules(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v2(fmt.Sprint("r", i), i, ``, ``, ``)
	}
	return out
}

func TestParse_Invalid(t *testing.T) {
	const dmr = `<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>`
	const dest = `<Destination><Bucket>arn:aws:s3:::dest</Bucket></Destination>`
	tests := []struct {
		name, doc, code, msg string
	}{
		{"empty", ``, ErrCodeMalformedXML, ""},
		{"not xml", `{"Role":"x"}`, ErrCodeMalformedXML, ""},
		{"unclosed", `<ReplicationConfiguration>` + role, ErrCodeMalformedXML, ""},
		{"wrong root", `<Replication>` + role + `</Replication>`, ErrCodeMalformedXML, ""},
		{"wrong namespace", `<ReplicationConfiguration xmlns="urn:x">` + role + v2("a", 1, ``, ``, ``) + `</ReplicationConfiguration>`, ErrCodeMalformedXML, ""},
		{"doctype", `<!DOCTYPE x><ReplicationConfiguration/>`, ErrCodeMalformedXML, ""},
		{"unknown top element", doc(v2("a", 1, ``, ``, ``), `<Foo/>`), ErrCodeMalformedXML, ""},
		{"unknown rule element", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<Status>`, `<Bogus/><Status>`, 1)), ErrCodeMalformedXML, ""},
		{"unknown destination element", doc(v2("a", 1, ``, ``, `<Region>x</Region>`)), ErrCodeMalformedXML, ""},
		{"repeated ID", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<ID>a</ID>`, `<ID>a</ID><ID>b</ID>`, 1)), ErrCodeMalformedXML, ""},
		{"text in container", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<Status>`, `oops<Status>`, 1)), ErrCodeMalformedXML, ""},
		{"children in leaf", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<ID>a</ID>`, `<ID><x/></ID>`, 1)), ErrCodeMalformedXML, ""},
		{"missing role", `<ReplicationConfiguration>` + v2("a", 1, ``, ``, ``) + `</ReplicationConfiguration>`, ErrCodeMalformedXML, ""},
		{"empty role", `<ReplicationConfiguration><Role> </Role>` + v2("a", 1, ``, ``, ``) + `</ReplicationConfiguration>`, ErrCodeInvalidArgument, "Role"},
		{"no rules", doc(), ErrCodeMalformedXML, ""},
		{"too many rules", doc(manyRules(1001)...), ErrCodeInvalidRequest, "exceeds"},
		{"id too long", doc(v2(strings.Repeat("i", 256), 1, ``, ``, ``)), ErrCodeInvalidArgument, "ID length"},
		{"duplicate id", doc(v2("a", 1, ``, ``, ``), v2("a", 2, ``, ``, ``)), ErrCodeInvalidArgument, "unique"},
		{"missing status", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<Status>Enabled</Status>`, ``, 1)), ErrCodeMalformedXML, ""},
		{"status wrong case", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<Status>Enabled</Status>`, `<Status>enabled</Status>`, 1)), ErrCodeMalformedXML, ""},
		{"neither prefix nor filter", doc(`<Rule><Status>Enabled</Status>` + dest + `</Rule>`), ErrCodeMalformedXML, ""},
		{"both prefix and filter", doc(`<Rule><Priority>1</Priority><Prefix>a</Prefix><Filter/><Status>Enabled</Status>` + dest + dmr + `</Rule>`), ErrCodeMalformedXML, ""},
		{"filter with two choices", doc(v2("a", 1, `<Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>`, ``, ``)), ErrCodeMalformedXML, ""},
		{"filter repeated prefix", doc(v2("a", 1, `<Prefix>p</Prefix><Prefix>q</Prefix>`, ``, ``)), ErrCodeMalformedXML, ""},
		{"tag without key", doc(v2("a", 1, `<Tag><Value>v</Value></Tag>`, ``, ``)), ErrCodeMalformedXML, ""},
		{"tag without value", doc(v2("a", 1, `<Tag><Key>k</Key></Tag>`, ``, ``)), ErrCodeMalformedXML, ""},
		{"empty tag key", doc(v2("a", 1, `<Tag><Key></Key><Value>v</Value></Tag>`, ``, ``)), ErrCodeInvalidArgument, "TagKey"},
		{"tag key too long", doc(v2("a", 1, `<Tag><Key>`+strings.Repeat("k", 129)+`</Key><Value>v</Value></Tag>`, ``, ``)), ErrCodeInvalidArgument, "TagKey"},
		{"tag value too long", doc(v2("a", 1, `<Tag><Key>k</Key><Value>`+strings.Repeat("v", 257)+`</Value></Tag>`, ``, ``)), ErrCodeInvalidArgument, "TagValue"},
		{"duplicate tag keys", doc(v2("a", 1, `<And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And>`, ``, ``)), ErrCodeInvalidRequest, "Duplicate Tag Keys"},
		{"prefix too long", doc(v2("a", 1, `<Prefix>`+strings.Repeat("p", 1025)+`</Prefix>`, ``, ``)), ErrCodeInvalidArgument, "Prefix length"},
		{"V2 without priority", doc(`<Rule><Filter/><Status>Enabled</Status>` + dest + dmr + `</Rule>`), ErrCodeInvalidRequest, "Priority must be specified"},
		{"V2 without delete marker replication", doc(`<Rule><Priority>1</Priority><Filter/><Status>Enabled</Status>` + dest + `</Rule>`), ErrCodeInvalidRequest, "DeleteMarkerReplication must be specified"},
		{"priority not a number", doc(strings.Replace(v2("a", 1, ``, ``, ``), `<Priority>1</Priority>`, `<Priority>high</Priority>`, 1)), ErrCodeMalformedXML, ""},
		{"negative priority", doc(v2("a", -1, ``, ``, ``)), ErrCodeInvalidArgument, "Priority"},
		{"duplicate priority", doc(v2("a", 1, ``, ``, ``), v2("b", 1, ``, ``, ``)), ErrCodeInvalidRequest, "overlapping priority"},
		{"tag filter with delete markers", doc(strings.Replace(v2("a", 1, `<Tag><Key>k</Key><Value>v</Value></Tag>`, ``, ``), dmr, `<DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>`, 1)), ErrCodeInvalidRequest, "Delete marker replication is not supported"},
		{"and-tag filter with delete markers", doc(strings.Replace(v2("a", 1, `<And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And>`, ``, ``), dmr, `<DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>`, 1)), ErrCodeInvalidRequest, "Delete marker replication is not supported"},
		{"delete marker status invalid", doc(strings.Replace(v2("a", 1, ``, ``, ``), dmr, `<DeleteMarkerReplication><Status>On</Status></DeleteMarkerReplication>`, 1)), ErrCodeMalformedXML, ""},
		{"V1 with replica modifications", doc(`<Rule><Prefix>a</Prefix><Status>Enabled</Status><SourceSelectionCriteria><ReplicaModifications><Status>Enabled</Status></ReplicaModifications></SourceSelectionCriteria>` + dest + `</Rule>`), ErrCodeInvalidRequest, "ReplicaModifications"},
		{"V1 with delete marker replication", doc(`<Rule><Prefix>a</Prefix><Status>Enabled</Status>` + dest + dmr + `</Rule>`), ErrCodeInvalidRequest, "DeleteMarkerReplication"},
		{"V1 overlapping prefixes", doc(
			`<Rule><Prefix>logs/</Prefix><Status>Enabled</Status>`+dest+`</Rule>`,
			`<Rule><Prefix>logs/2024/</Prefix><Status>Enabled</Status>`+dest+`</Rule>`), ErrCodeInvalidRequest, "overlapping prefixes"},
		{"mixed V1 and V2", doc(`<Rule><Prefix>a</Prefix><Status>Enabled</Status>`+dest+`</Rule>`, v2("b", 1, ``, ``, ``)), ErrCodeInvalidRequest, "all use"},
		{"missing destination", doc(`<Rule><Priority>1</Priority><Filter/><Status>Enabled</Status>` + dmr + `</Rule>`), ErrCodeMalformedXML, ""},
		{"missing destination bucket", doc(`<Rule><Priority>1</Priority><Filter/><Status>Enabled</Status><Destination><Account>1</Account></Destination>` + dmr + `</Rule>`), ErrCodeMalformedXML, ""},
		{"bucket not an arn", doc(strings.Replace(v2("a", 1, ``, ``, ``), `arn:aws:s3:::dest`, `dest`, 1)), ErrCodeInvalidArgument, "Invalid bucket ARN"},
		{"bucket arn with key", doc(strings.Replace(v2("a", 1, ``, ``, ``), `arn:aws:s3:::dest`, `arn:aws:s3:::dest/key`, 1)), ErrCodeInvalidArgument, "Invalid bucket ARN"},
		{"bucket arn bad name", doc(strings.Replace(v2("a", 1, ``, ``, ``), `arn:aws:s3:::dest`, `arn:aws:s3:::Dest_Bucket`, 1)), ErrCodeInvalidArgument, "Invalid bucket ARN"},
		{"bucket arn other service", doc(strings.Replace(v2("a", 1, ``, ``, ``), `arn:aws:s3:::dest`, `arn:aws:sqs:::dest`, 1)), ErrCodeInvalidArgument, "Invalid bucket ARN"},
		{"bad storage class", doc(v2("a", 1, ``, ``, `<StorageClass>COLD</StorageClass>`)), ErrCodeMalformedXML, ""},
		{"storage class wrong case", doc(v2("a", 1, ``, ``, `<StorageClass>standard</StorageClass>`)), ErrCodeMalformedXML, ""},
		{"owner not Destination", doc(v2("a", 1, ``, ``, `<Account>1</Account><AccessControlTranslation><Owner>Source</Owner></AccessControlTranslation>`)), ErrCodeMalformedXML, ""},
		{"translation without account", doc(v2("a", 1, ``, ``, `<AccessControlTranslation><Owner>Destination</Owner></AccessControlTranslation>`)), ErrCodeInvalidRequest, "Account"},
		{"kms objects without key", doc(v2("a", 1, ``, `<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>`, ``)), ErrCodeInvalidRequest, "ReplicaKmsKeyID"},
		{"kms key without kms objects", doc(v2("a", 1, ``, ``, `<EncryptionConfiguration><ReplicaKmsKeyID>k</ReplicaKmsKeyID></EncryptionConfiguration>`)), ErrCodeInvalidRequest, "SseKmsEncryptedObjects"},
		{"RTC without metrics", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Enabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime>`)), ErrCodeInvalidRequest, "Metrics"},
		{"RTC with metrics disabled", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Enabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime><Metrics><Status>Disabled</Status></Metrics>`)), ErrCodeInvalidRequest, "Metrics"},
		{"RTC minutes not 15", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Enabled</Status><Time><Minutes>10</Minutes></Time></ReplicationTime><Metrics><Status>Enabled</Status></Metrics>`)), ErrCodeInvalidArgument, "Minutes"},
		{"RTC without minutes", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Enabled</Status><Time/></ReplicationTime><Metrics><Status>Enabled</Status></Metrics>`)), ErrCodeInvalidArgument, "Minutes"},
		{"RTC without time", doc(v2("a", 1, ``, ``, `<ReplicationTime><Status>Enabled</Status></ReplicationTime><Metrics><Status>Enabled</Status></Metrics>`)), ErrCodeMalformedXML, ""},
		{"RTC without status", doc(v2("a", 1, ``, ``, `<ReplicationTime><Time><Minutes>15</Minutes></Time></ReplicationTime>`)), ErrCodeMalformedXML, ""},
		{"metrics threshold not 15", doc(v2("a", 1, ``, ``, `<Metrics><Status>Enabled</Status><EventThreshold><Minutes>30</Minutes></EventThreshold></Metrics>`)), ErrCodeInvalidArgument, "EventThreshold"},
		{"metrics without status", doc(v2("a", 1, ``, ``, `<Metrics><EventThreshold><Minutes>15</Minutes></EventThreshold></Metrics>`)), ErrCodeMalformedXML, ""},
		{"existing object replication bad status", doc(v2("a", 1, ``, `<ExistingObjectReplication><Status>Yes</Status></ExistingObjectReplication>`, ``)), ErrCodeMalformedXML, ""},
		{"existing object replication missing status", doc(v2("a", 1, ``, `<ExistingObjectReplication/>`, ``)), ErrCodeMalformedXML, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if re.Code != tt.code || !strings.Contains(re.Message, tt.msg) {
				t.Fatalf("error %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestConfiguration_XML(t *testing.T) {
	c := mustParse(t, doc(v2("a&amp;b", 3, `<Prefix>x&lt;y</Prefix>`, ``, `<StorageClass>GLACIER</StorageClass>`)))
	got := string(c.XML())
	for _, want := range []string{
		`<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`,
		`<Role>arn:aws:iam::000000000000:role/replication</Role>`,
		`<Rule><ID>a&amp;b</ID><Priority>3</Priority><Filter><Prefix>x&lt;y</Prefix></Filter><Status>Enabled</Status>`,
		`<Destination><Bucket>arn:aws:s3:::dest</Bucket><StorageClass>GLACIER</StorageClass></Destination>`,
		`<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication></Rule>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("XML lacks %s\n%s", want, got)
		}
	}
	if strings.HasPrefix(got, "<?xml") {
		t.Error("XML must not carry a declaration")
	}
}

func TestMatch(t *testing.T) {
	c := mustParse(t, doc(
		v2("logs-low", 1, `<Prefix>logs/</Prefix>`, ``, ``),
		v2("logs-high", 5, `<Prefix>logs/</Prefix>`, ``, ``),
		strings.Replace(v2("tagged", 3, `<Tag><Key>team</Key><Value>red</Value></Tag>`, ``, ``), `arn:aws:s3:::dest`, `arn:aws:s3:::other`, 1),
		strings.Replace(v2("and", 4, `<And><Prefix>img/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></And>`, ``, ``), `arn:aws:s3:::dest`, `arn:aws:s3:::third`, 1),
		strings.Replace(v2("disabled", 9, ``, ``, ``), `<Status>Enabled</Status>`, `<Status>Disabled</Status>`, 1),
		strings.Replace(v2("all", 0, ``, ``, ``), `arn:aws:s3:::dest`, `arn:aws:s3:::fourth`, 1),
	))
	ids := func(rs []Rule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name string
		key  string
		tags map[string]string
		want []string
	}{
		{"highest priority per destination", "logs/a", nil, []string{"logs-high", "all"}},
		{"tag rule", "x", map[string]string{"team": "red"}, []string{"tagged", "all"}},
		{"tag value must match", "x", map[string]string{"team": "blue"}, []string{"all"}},
		{"and needs prefix and all tags", "img/1", map[string]string{"a": "1", "b": "2", "c": "3"}, []string{"and", "all"}},
		{"and missing a tag", "img/1", map[string]string{"a": "1"}, []string{"all"}},
		{"and wrong prefix", "doc/1", map[string]string{"a": "1", "b": "2"}, []string{"all"}},
		{"everything", "logs/x", map[string]string{"team": "red"}, []string{"logs-high", "tagged", "all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(c.Match(tt.key, tt.tags)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	var nilConfig *Configuration
	if nilConfig.Match("k", nil) != nil {
		t.Fatal("nil configuration matched")
	}
}

func TestMatch_V1(t *testing.T) {
	c := mustParse(t, doc(
		`<Rule><ID>a</ID><Prefix>a/</Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`,
		`<Rule><ID>b</ID><Prefix>b/</Prefix><Status>Disabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`))
	if got := c.Match("a/x", nil); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("Match(a/x) = %+v", got)
	}
	if got := c.Match("b/x", nil); len(got) != 0 {
		t.Fatalf("disabled V1 rule matched: %+v", got)
	}
	if got := c.Match("c/x", nil); len(got) != 0 {
		t.Fatalf("unrelated key matched: %+v", got)
	}
}

func TestReplicatesDeleteMarkers(t *testing.T) {
	v1 := mustParse(t, doc(`<Rule><Prefix></Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`))
	if !v1.Rules[0].ReplicatesDeleteMarkers() {
		t.Error("V1 rule must replicate delete markers")
	}
	off := mustParse(t, doc(v2("a", 1, ``, ``, ``)))
	if off.Rules[0].ReplicatesDeleteMarkers() {
		t.Error("V2 rule with DeleteMarkerReplication Disabled replicates delete markers")
	}
	on := mustParse(t, doc(strings.Replace(v2("a", 1, ``, ``, ``), `<DeleteMarkerReplication><Status>Disabled`, `<DeleteMarkerReplication><Status>Enabled`, 1)))
	if !on.Rules[0].ReplicatesDeleteMarkers() {
		t.Error("V2 rule with DeleteMarkerReplication Enabled does not replicate delete markers")
	}
}
