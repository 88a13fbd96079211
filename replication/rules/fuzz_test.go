package rules

import (
	"errors"
	"reflect"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		doc(v2("a", 1, ``, ``, ``)),
		doc(v2("a", 1, `<And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And>`,
			`<SourceSelectionCriteria><ReplicaModifications><Status>Enabled</Status></ReplicaModifications></SourceSelectionCriteria><ExistingObjectReplication><Status>Disabled</Status></ExistingObjectReplication>`,
			`<Account>1</Account><StorageClass>STANDARD</StorageClass><AccessControlTranslation><Owner>Destination</Owner></AccessControlTranslation><ReplicationTime><Status>Enabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime><Metrics><Status>Enabled</Status><EventThreshold><Minutes>15</Minutes></EventThreshold></Metrics>`),
			v2("b", 2, `<Tag><Key>k</Key><Value>v</Value></Tag>`, ``, ``)),
		doc(`<Rule><Prefix>a/</Prefix><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule>`),
		`<ReplicationConfiguration/>`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			switch re.Code {
			case ErrCodeMalformedXML, ErrCodeInvalidArgument, ErrCodeInvalidRequest:
			default:
				t.Fatalf("unexpected error code %q", re.Code)
			}
			return
		}
		c.Match("logs/a", map[string]string{"k": "v"})
		for _, r := range c.Rules {
			r.ReplicatesDeleteMarkers()
		}
		out := c.XML()
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the configuration\n%#v\n%#v", c, again)
		}
	})
}
