package policy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// S3Namespace is the XML namespace of S3 request and response bodies.
const S3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// ErrCodeMalformedXML is the S3 error code for a body that is not well-formed or does
// not follow the schema.
const ErrCodeMalformedXML = "MalformedXML"

// PublicAccessBlock is a bucket's PublicAccessBlockConfiguration. Its zero value blocks
// nothing, which is also what a bucket without a configuration gets.
type PublicAccessBlock struct {
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

func malformedXML(format string, args ...any) *Error {
	return &Error{Code: ErrCodeMalformedXML, Message: fmt.Sprintf(format, args...)}
}

// ParsePublicAccessBlock parses a PutPublicAccessBlock body. The root element must be
// PublicAccessBlockConfiguration (in the S3 namespace or none); each of the four flags
// may appear once, with the value "true" or "false"; a missing flag is false. Any other
// element or content is an *Error with Code MalformedXML.
func ParsePublicAccessBlock(data []byte) (PublicAccessBlock, error) {
	var c PublicAccessBlock
	root, err := readXMLTree(data)
	if err != nil {
		return c, err
	}
	if root.name != "PublicAccessBlockConfiguration" {
		return c, malformedXML("The XML you provided was not well-formed or did not validate against our published schema")
	}
	seen := map[string]bool{}
	for _, ch := range root.children {
		var dst *bool
		switch ch.name {
		case "BlockPublicAcls":
			dst = &c.BlockPublicAcls
		case "IgnorePublicAcls":
			dst = &c.IgnorePublicAcls
		case "BlockPublicPolicy":
			dst = &c.BlockPublicPolicy
		case "RestrictPublicBuckets":
			dst = &c.RestrictPublicBuckets
		default:
			return c, malformedXML("Unexpected element %s in PublicAccessBlockConfiguration", ch.name)
		}
		if seen[ch.name] || len(ch.children) > 0 {
			return c, malformedXML("The XML you provided was not well-formed or did not validate against our published schema")
		}
		seen[ch.name] = true
		switch strings.TrimSpace(ch.text) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return c, malformedXML("%s must be true or false", ch.name)
		}
	}
	return c, nil
}

// XML returns the canonical PublicAccessBlockConfiguration document, with every flag,
// in the S3 namespace and without an XML declaration (the HTTP layer adds one if it
// wants it).
func (c PublicAccessBlock) XML() []byte {
	var b bytes.Buffer
	b.WriteString(`<PublicAccessBlockConfiguration xmlns="` + S3Namespace + `">`)
	for _, f := range []struct {
		name string
		v    bool
	}{
		{"BlockPublicAcls", c.BlockPublicAcls},
		{"IgnorePublicAcls", c.IgnorePublicAcls},
		{"BlockPublicPolicy", c.BlockPublicPolicy},
		{"RestrictPublicBuckets", c.RestrictPublicBuckets},
	} {
		fmt.Fprintf(&b, "<%s>%t</%s>", f.name, f.v, f.name)
	}
	b.WriteString(`</PublicAccessBlockConfiguration>`)
	return b.Bytes()
}

// xmlNode is an element of a small XML document: its local name, its character data and
// its child elements. Mixed content (text beside child elements) is rejected when read.
type xmlNode struct {
	name     string
	text     string
	children []*xmlNode
}

const maxXMLDepth = 16

// readXMLTree reads a whole document into xmlNodes. The root must be in the S3 namespace
// or in none; DOCTYPE declarations are refused (no entity games), and nothing but
// comments, processing instructions and white space may follow the root.
func readXMLTree(data []byte) (*xmlNode, error) {
	bad := malformedXML("The XML you provided was not well-formed or did not validate against our published schema")
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bad
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, bad // a second root element
			}
			if len(stack) >= maxXMLDepth {
				return nil, bad
			}
			n := &xmlNode{name: t.Name.Local}
			if len(stack) == 0 {
				if t.Name.Space != "" && t.Name.Space != S3Namespace {
					return nil, bad
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				if strings.TrimSpace(parent.text) != "" {
					return nil, bad
				}
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, bad
				}
				continue
			}
			n := stack[len(stack)-1]
			if len(n.children) > 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, bad
			}
			n.text += string(t)
		case xml.Directive:
			return nil, bad
		}
	}
	if root == nil || len(stack) != 0 {
		return nil, bad
	}
	return root, nil
}
