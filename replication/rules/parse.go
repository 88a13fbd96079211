package rules

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const schemaMessage = "The XML you provided was not well-formed or did not validate against our published schema"

func malformedXML() *Error { return &Error{Code: ErrCodeMalformedXML, Message: schemaMessage} }

func invalidArgument(format string, args ...any) *Error {
	return &Error{Code: ErrCodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *Error {
	return &Error{Code: ErrCodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// Parse parses and validates a PutBucketReplication body. Problems are *Error values:
// MalformedXML when the document is not well-formed or does not follow the schema
// (unknown or repeated elements, missing required elements, bad enum or integer values),
// and InvalidArgument or InvalidRequest, as S3 answers, when it breaks a rule of
// replication itself.
func Parse(data []byte) (*Configuration, error) {
	root, err := readTree(data)
	if err != nil {
		return nil, err
	}
	if root.name != "ReplicationConfiguration" {
		return nil, malformedXML()
	}
	c, err := buildConfiguration(root)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// element is a node of a small XML document. Mixed content is rejected when read, so an
// element has either text or children.
type element struct {
	name     string
	text     string
	children []*element
}

const maxDepth = 16

// readTree reads a whole document. The root must be in the S3 namespace or in none;
// DOCTYPE declarations are refused, and nothing but comments, processing instructions and
// white space may surround the root.
func readTree(data []byte) (*element, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*element
	var root *element
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformedXML()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if (root != nil && len(stack) == 0) || len(stack) >= maxDepth {
				return nil, malformedXML()
			}
			e := &element{name: t.Name.Local}
			if len(stack) == 0 {
				if t.Name.Space != "" && t.Name.Space != Namespace {
					return nil, malformedXML()
				}
				root = e
			} else {
				parent := stack[len(stack)-1]
				if strings.TrimSpace(parent.text) != "" {
					return nil, malformedXML()
				}
				parent.children = append(parent.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			blank := len(bytes.TrimSpace(t)) == 0
			if len(stack) == 0 {
				if !blank {
					return nil, malformedXML()
				}
				continue
			}
			e := stack[len(stack)-1]
			if len(e.children) > 0 && !blank {
				return nil, malformedXML()
			}
			e.text += string(t)
		case xml.Directive:
			return nil, malformedXML()
		}
	}
	if root == nil || len(stack) != 0 {
		return nil, malformedXML()
	}
	return root, nil
}

// fields indexes e's children by name. Every child must be named in allowed; a name may
// repeat only if it is also listed in repeated.
func (e *element) fields(allowed []string, repeated ...string) (map[string][]*element, error) {
	m := make(map[string][]*element, len(e.children))
	for _, ch := range e.children {
		if !contains(allowed, ch.name) {
			return nil, malformedXML()
		}
		if len(m[ch.name]) > 0 && !contains(repeated, ch.name) {
			return nil, malformedXML()
		}
		m[ch.name] = append(m[ch.name], ch)
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// leaf returns the text of a child that must not have children of its own.
func leaf(m map[string][]*element, name string) (text string, present bool, err error) {
	l := m[name]
	if len(l) == 0 {
		return "", false, nil
	}
	if len(l[0].children) > 0 {
		return "", true, malformedXML()
	}
	return l[0].text, true, nil
}

func optionalString(m map[string][]*element, name string) (*string, error) {
	s, ok, err := leaf(m, name)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

func optionalInt(m map[string][]*element, name string) (*int, error) {
	s, ok, err := leaf(m, name)
	if err != nil || !ok {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil, malformedXML()
	}
	return &n, nil
}

// status reads a required Enabled|Disabled leaf.
func status(m map[string][]*element, name string) (Status, error) {
	s, ok, err := leaf(m, name)
	if err != nil {
		return "", err
	}
	switch st := Status(strings.TrimSpace(s)); {
	case !ok:
		return "", malformedXML()
	case st == Enabled || st == Disabled:
		return st, nil
	default:
		return "", malformedXML()
	}
}

// statusConfig reads an optional element whose only child is a required Status.
func statusConfig(m map[string][]*element, name string) (*StatusConfig, error) {
	l := m[name]
	if len(l) == 0 {
		return nil, nil
	}
	f, err := l[0].fields([]string{"Status"})
	if err != nil {
		return nil, err
	}
	st, err := status(f, "Status")
	if err != nil {
		return nil, err
	}
	return &StatusConfig{Status: st}, nil
}

func buildConfiguration(root *element) (*Configuration, error) {
	f, err := root.fields([]string{"Role", "Rule"}, "Rule")
	if err != nil {
		return nil, err
	}
	role, ok, err := leaf(f, "Role")
	if err != nil {
		return nil, err
	}
	if !ok || len(f["Rule"]) == 0 {
		return nil, malformedXML()
	}
	c := &Configuration{Role: role, Rules: make([]Rule, 0, len(f["Rule"]))}
	for _, re := range f["Rule"] {
		r, err := buildRule(re)
		if err != nil {
			return nil, err
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

func buildRule(e *element) (Rule, error) {
	var r Rule
	f, err := e.fields([]string{"ID", "Priority", "Prefix", "Filter", "Status", "SourceSelectionCriteria",
		"ExistingObjectReplication", "Destination", "DeleteMarkerReplication"})
	if err != nil {
		return r, err
	}
	if r.ID, _, err = leaf(f, "ID"); err != nil {
		return r, err
	}
	if r.Priority, err = optionalInt(f, "Priority"); err != nil {
		return r, err
	}
	if r.Prefix, err = optionalString(f, "Prefix"); err != nil {
		return r, err
	}
	if l := f["Filter"]; len(l) > 0 {
		if r.Filter, err = buildFilter(l[0]); err != nil {
			return r, err
		}
	}
	if r.Status, err = status(f, "Status"); err != nil {
		return r, err
	}
	if l := f["SourceSelectionCriteria"]; len(l) > 0 {
		sf, err := l[0].fields([]string{"SseKmsEncryptedObjects", "ReplicaModifications"})
		if err != nil {
			return r, err
		}
		r.SourceSelectionCriteria = &SourceSelectionCriteria{}
		if r.SourceSelectionCriteria.SseKmsEncryptedObjects, err = statusConfig(sf, "SseKmsEncryptedObjects"); err != nil {
			return r, err
		}
		if r.SourceSelectionCriteria.ReplicaModifications, err = statusConfig(sf, "ReplicaModifications"); err != nil {
			return r, err
		}
	}
	if r.ExistingObjectReplication, err = statusConfig(f, "ExistingObjectReplication"); err != nil {
		return r, err
	}
	if l := f["DeleteMarkerReplication"]; len(l) > 0 {
		df, err := l[0].fields([]string{"Status"})
		if err != nil {
			return r, err
		}
		// Status is optional here in S3's schema; absent means Disabled.
		r.DeleteMarkerReplication = &StatusConfig{Status: Disabled}
		if len(df["Status"]) > 0 {
			if r.DeleteMarkerReplication.Status, err = status(df, "Status"); err != nil {
				return r, err
			}
		}
	}
	l := f["Destination"]
	if len(l) == 0 {
		return r, malformedXML()
	}
	if r.Destination, err = buildDestination(l[0]); err != nil {
		return r, err
	}
	return r, nil
}

func buildFilter(e *element) (*Filter, error) {
	f, err := e.fields([]string{"Prefix", "Tag", "And"})
	if err != nil {
		return nil, err
	}
	if len(f) > 1 {
		// The schema makes Prefix, Tag and And a choice.
		return nil, malformedXML()
	}
	out := &Filter{}
	if out.Prefix, err = optionalString(f, "Prefix"); err != nil {
		return nil, err
	}
	if l := f["Tag"]; len(l) > 0 {
		t, err := buildTag(l[0])
		if err != nil {
			return nil, err
		}
		out.Tag = &t
	}
	if l := f["And"]; len(l) > 0 {
		af, err := l[0].fields([]string{"Prefix", "Tag"}, "Tag")
		if err != nil {
			return nil, err
		}
		out.And = &And{}
		if out.And.Prefix, err = optionalString(af, "Prefix"); err != nil {
			return nil, err
		}
		for _, te := range af["Tag"] {
			t, err := buildTag(te)
			if err != nil {
				return nil, err
			}
			out.And.Tags = append(out.And.Tags, t)
		}
	}
	return out, nil
}

func buildTag(e *element) (Tag, error) {
	f, err := e.fields([]string{"Key", "Value"})
	if err != nil {
		return Tag{}, err
	}
	key, okKey, err := leaf(f, "Key")
	if err != nil {
		return Tag{}, err
	}
	value, okValue, err := leaf(f, "Value")
	if err != nil {
		return Tag{}, err
	}
	if !okKey || !okValue {
		return Tag{}, malformedXML()
	}
	return Tag{Key: key, Value: value}, nil
}

func buildDestination(e *element) (Destination, error) {
	var d Destination
	f, err := e.fields([]string{"Bucket", "Account", "StorageClass", "AccessControlTranslation",
		"EncryptionConfiguration", "ReplicationTime", "Metrics"})
	if err != nil {
		return d, err
	}
	bucket, ok, err := leaf(f, "Bucket")
	if err != nil {
		return d, err
	}
	if !ok {
		return d, malformedXML()
	}
	d.Bucket = strings.TrimSpace(bucket)
	if d.Account, _, err = leaf(f, "Account"); err != nil {
		return d, err
	}
	sc, ok, err := leaf(f, "StorageClass")
	if err != nil {
		return d, err
	}
	if ok {
		d.StorageClass = strings.TrimSpace(sc)
		if !storageClasses[d.StorageClass] {
			return d, malformedXML()
		}
	}
	if l := f["AccessControlTranslation"]; len(l) > 0 {
		af, err := l[0].fields([]string{"Owner"})
		if err != nil {
			return d, err
		}
		owner, ok, err := leaf(af, "Owner")
		if err != nil {
			return d, err
		}
		if !ok || strings.TrimSpace(owner) != "Destination" {
			return d, malformedXML()
		}
		d.AccessControlTranslation = &AccessControlTranslation{Owner: "Destination"}
	}
	if l := f["EncryptionConfiguration"]; len(l) > 0 {
		ef, err := l[0].fields([]string{"ReplicaKmsKeyID"})
		if err != nil {
			return d, err
		}
		d.EncryptionConfiguration = &EncryptionConfiguration{}
		if d.EncryptionConfiguration.ReplicaKmsKeyID, _, err = leaf(ef, "ReplicaKmsKeyID"); err != nil {
			return d, err
		}
	}
	if l := f["ReplicationTime"]; len(l) > 0 {
		rf, err := l[0].fields([]string{"Status", "Time"})
		if err != nil {
			return d, err
		}
		rt := &ReplicationTime{}
		if rt.Status, err = status(rf, "Status"); err != nil {
			return d, err
		}
		tl := rf["Time"]
		if len(tl) == 0 {
			return d, malformedXML()
		}
		if rt.Time, err = buildTimeValue(tl[0]); err != nil {
			return d, err
		}
		d.ReplicationTime = rt
	}
	if l := f["Metrics"]; len(l) > 0 {
		mf, err := l[0].fields([]string{"Status", "EventThreshold"})
		if err != nil {
			return d, err
		}
		m := &Metrics{}
		if m.Status, err = status(mf, "Status"); err != nil {
			return d, err
		}
		if tl := mf["EventThreshold"]; len(tl) > 0 {
			tv, err := buildTimeValue(tl[0])
			if err != nil {
				return d, err
			}
			m.EventThreshold = &tv
		}
		d.Metrics = m
	}
	return d, nil
}

func buildTimeValue(e *element) (TimeValue, error) {
	f, err := e.fields([]string{"Minutes"})
	if err != nil {
		return TimeValue{}, err
	}
	n, err := optionalInt(f, "Minutes")
	return TimeValue{Minutes: n}, err
}
