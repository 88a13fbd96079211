package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// MaxPolicySize is the largest bucket policy S3 accepts (20 KB).
const MaxPolicySize = 20 * 1024

// AccountID is the single account every Pangea principal belongs to for now. Policies
// name it in "arn:aws:iam::000000000000:root" or as the bare id.
const AccountID = "000000000000"

// Policy language versions.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// ErrCodeMalformedPolicy is the S3 error code of every policy document problem.
const ErrCodeMalformedPolicy = "MalformedPolicy"

// Error is a policy or configuration problem. Code is the S3 error code to answer with
// (MalformedPolicy, MalformedXML); Message is safe to show to the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func malformed(format string, args ...any) *Error {
	return &Error{Code: ErrCodeMalformedPolicy, Message: fmt.Sprintf(format, args...)}
}

// Decision is the outcome of evaluating a policy for one request.
type Decision int

const (
	// Default means no statement applies: the caller falls back to its own rules
	// (for S3: the bucket owner is allowed, everyone else is denied).
	Default Decision = iota
	// Allow means an Allow statement applies and no Deny statement does.
	Allow
	// Deny means a Deny statement applies; an explicit deny always wins.
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	default:
		return "Default"
	}
}

// Effect is a statement's Effect.
type Effect string

const (
	EffectAllow Effect = "Allow"
	EffectDeny  Effect = "Deny"
)

// Policy is a parsed, validated bucket policy. Its zero value denies nothing and allows
// nothing. A Policy is immutable after Parse and safe for concurrent use.
type Policy struct {
	Version    string // "" when the document has none (evaluated as 2008-10-17)
	ID         string
	Statements []Statement
}

// Statement is one policy statement. Exactly one of Principal and NotPrincipal, of
// Action and NotAction, and of Resource and NotResource is set.
type Statement struct {
	Sid          string
	Effect       Effect
	Principal    *Principal
	NotPrincipal *Principal
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	// Conditions are sorted by operator, then key, so that two documents that differ only
	// in JSON member order parse to equal values.
	Conditions []Condition
}

// Principal is a Principal or NotPrincipal element. All is the bare "*" form.
type Principal struct {
	All           bool
	AWS           []string
	CanonicalUser []string
	Service       []string
	Federated     []string
}

// Condition is one (operator, key) pair of a Condition block with its values, which are
// ORed. Numbers and booleans written unquoted in JSON are kept as their literal text.
// Conditions only work as parsed by Parse, which also compiles the operator.
type Condition struct {
	Operator string // as written, for example "ForAnyValue:StringLikeIfExists"
	Key      string
	Values   []string

	op operator
}

// Parse parses and validates a bucket policy document. Every problem is reported as an
// *Error with Code MalformedPolicy and a message in the style of S3's.
func Parse(doc []byte) (*Policy, error) {
	if len(doc) > MaxPolicySize {
		return nil, malformed("Policies must be less than %d bytes; this one is %d bytes", MaxPolicySize, len(doc))
	}
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed("Policies must be valid JSON and the first byte must be '{'")
	}
	var top map[string]json.RawMessage
	if err := unmarshalStrict(trimmed, &top); err != nil {
		return nil, malformed("Policies must be valid JSON and the first byte must be '{'")
	}
	p := &Policy{}
	var rawStatements json.RawMessage
	for name, raw := range top {
		switch name {
		case "Version":
			if err := unmarshalString(raw, &p.Version); err != nil || (p.Version != Version2012 && p.Version != Version2008) {
				return nil, malformed("The policy must contain a valid version string")
			}
		case "Id":
			if err := unmarshalString(raw, &p.ID); err != nil {
				return nil, malformed("Id must be a string")
			}
		case "Statement":
			rawStatements = raw
		default:
			return nil, malformed("Unknown field %s", name)
		}
	}
	if rawStatements == nil {
		return nil, malformed("Missing required field Statement")
	}
	items, err := objectOrArray(rawStatements)
	if err != nil || len(items) == 0 {
		return nil, malformed("Could not parse the policy: Statement is not well formed")
	}
	p.Statements = make([]Statement, 0, len(items))
	for _, item := range items {
		st, err := parseStatement(item)
		if err != nil {
			return nil, err
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage) (Statement, error) {
	var fields map[string]json.RawMessage
	if err := unmarshalStrict(raw, &fields); err != nil || fields == nil {
		return Statement{}, malformed("Could not parse the policy: Statement is not well formed")
	}
	var st Statement
	var err error
	for name, v := range fields {
		switch name {
		case "Sid":
			if unmarshalString(v, &st.Sid) != nil {
				return st, malformed("Statement Sid must be a string")
			}
		case "Effect":
			var e string
			if unmarshalString(v, &e) != nil || (e != string(EffectAllow) && e != string(EffectDeny)) {
				return st, malformed("Invalid effect: %s", strings.TrimSpace(string(v)))
			}
			st.Effect = Effect(e)
		case "Principal":
			st.Principal, err = parsePrincipal(v)
		case "NotPrincipal":
			st.NotPrincipal, err = parsePrincipal(v)
		case "Action":
			st.Action, err = parseActions(v)
		case "NotAction":
			st.NotAction, err = parseActions(v)
		case "Resource":
			st.Resource, err = parseResources(v)
		case "NotResource":
			st.NotResource, err = parseResources(v)
		case "Condition":
			st.Conditions, err = parseConditionBlock(v)
		default:
			return st, malformed("Unknown field %s", name)
		}
		if err != nil {
			return st, err
		}
	}
	switch {
	case st.Effect == "":
		return st, malformed("Missing required field Effect")
	case st.Principal == nil && st.NotPrincipal == nil:
		return st, malformed("Missing required field Principal")
	case st.Principal != nil && st.NotPrincipal != nil:
		return st, malformed("Statement cannot have both Principal and NotPrincipal")
	case st.Action == nil && st.NotAction == nil:
		return st, malformed("Missing required field Action")
	case st.Action != nil && st.NotAction != nil:
		return st, malformed("Statement cannot have both Action and NotAction")
	case st.Resource == nil && st.NotResource == nil:
		return st, malformed("Missing required field Resource")
	case st.Resource != nil && st.NotResource != nil:
		return st, malformed("Statement cannot have both Resource and NotResource")
	}
	return st, nil
}

func parsePrincipal(raw json.RawMessage) (*Principal, error) {
	var s string
	if unmarshalString(raw, &s) == nil {
		if s != "*" {
			return nil, malformed("Invalid principal in policy")
		}
		return &Principal{All: true}, nil
	}
	var m map[string]json.RawMessage
	if err := unmarshalStrict(raw, &m); err != nil || len(m) == 0 {
		return nil, malformed("Invalid principal in policy")
	}
	p := &Principal{}
	for kind, v := range m {
		vals, err := stringOrArray(v)
		if err != nil || len(vals) == 0 {
			return nil, malformed("Invalid principal in policy")
		}
		for _, val := range vals {
			if strings.TrimSpace(val) == "" {
				return nil, malformed("Invalid principal in policy")
			}
		}
		switch kind {
		case "AWS":
			p.AWS = vals
		case "CanonicalUser":
			p.CanonicalUser = vals
		case "Service":
			p.Service = vals
		case "Federated":
			p.Federated = vals
		default:
			return nil, malformed("Invalid principal in policy")
		}
	}
	return p, nil
}

func parseActions(raw json.RawMessage) ([]string, error) {
	vals, err := stringOrArray(raw)
	if err != nil || len(vals) == 0 {
		return nil, malformed("Policy has invalid action")
	}
	for _, a := range vals {
		if !validAction(a) {
			return nil, malformed("Policy has invalid action")
		}
	}
	return vals, nil
}

// validAction accepts "*" and "s3:<name>" where the name uses letters, digits and
// wildcards. Bucket policies only govern S3 actions, so other services are rejected
// as S3 does.
func validAction(a string) bool {
	if a == "*" {
		return true
	}
	service, name, ok := strings.Cut(a, ":")
	if !ok || !strings.EqualFold(service, "s3") || name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '*' || r == '?') {
			return false
		}
	}
	return true
}

func parseResources(raw json.RawMessage) ([]string, error) {
	vals, err := stringOrArray(raw)
	if err != nil || len(vals) == 0 {
		return nil, malformed("Policy has invalid resource")
	}
	for _, r := range vals {
		if !validResource(r) {
			return nil, malformed("Policy has invalid resource")
		}
	}
	return vals, nil
}

// validResource accepts "*" and S3 ARNs (buckets, objects, and access point ARNs so the
// same parser can serve access point policies later). Whether a resource lies inside a
// particular bucket is ValidateForBucket's job.
func validResource(r string) bool {
	if r == "*" {
		return true
	}
	parts := strings.SplitN(r, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return false
	}
	return parts[2] == "s3" || parts[2] == "*"
}

func parseConditionBlock(raw json.RawMessage) ([]Condition, error) {
	var ops map[string]json.RawMessage
	if err := unmarshalStrict(raw, &ops); err != nil || ops == nil {
		return nil, malformed("Condition block is not well formed")
	}
	var out []Condition
	for opName, body := range ops {
		op, err := parseOperator(opName)
		if err != nil {
			return nil, err
		}
		var keys map[string]json.RawMessage
		if err := unmarshalStrict(body, &keys); err != nil || keys == nil {
			return nil, malformed("Condition %s is not well formed", opName)
		}
		for key, v := range keys {
			if strings.TrimSpace(key) == "" {
				return nil, malformed("Condition %s has an empty key", opName)
			}
			vals, err := conditionValues(v)
			if err != nil {
				return nil, malformed("Invalid value for condition %s key %s", opName, key)
			}
			c := Condition{Operator: opName, Key: key, Values: vals, op: op}
			if err := c.validate(); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// conditionValues accepts a scalar or an array of scalars. Numbers keep their literal text
// and booleans become "true"/"false", as IAM treats every condition value as a string
// until an operator interprets it.
func conditionValues(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	scalar := func(x any) (string, bool) {
		switch t := x.(type) {
		case string:
			return t, true
		case json.Number:
			return t.String(), true
		case bool:
			if t {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("not a scalar or array")
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := scalar(x)
		if !ok {
			return nil, fmt.Errorf("not a scalar")
		}
		out = append(out, s)
	}
	return out, nil
}

// unmarshalStrict decodes JSON and rejects duplicate-free but otherwise odd input such as
// trailing data (json.Unmarshal already does) and a JSON null where an object is needed.
func unmarshalStrict(raw []byte, v any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("null")
	}
	return json.Unmarshal(raw, v)
}

func unmarshalString(raw json.RawMessage, s *string) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '"' {
		return fmt.Errorf("not a string")
	}
	return json.Unmarshal(t, s)
}

func stringOrArray(raw json.RawMessage) ([]string, error) {
	var s string
	if unmarshalString(raw, &s) == nil {
		return []string{s}, nil
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return nil, fmt.Errorf("not a string or array")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(t, &raws); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		if err := unmarshalString(r, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func objectOrArray(raw json.RawMessage) ([]json.RawMessage, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return nil, fmt.Errorf("empty")
	}
	switch t[0] {
	case '{':
		return []json.RawMessage{t}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, err
		}
		return items, nil
	}
	return nil, fmt.Errorf("not an object or array")
}

// JSON returns the policy in a canonical form: fixed member order, Statement always an
// array, list elements always arrays. Parse(p.JSON()) yields a Policy equal to p.
func (p *Policy) JSON() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	field := func(name string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, name)
		b.WriteByte(':')
	}
	if p.Version != "" {
		field("Version")
		writeJSONString(&b, p.Version)
	}
	if p.ID != "" {
		field("Id")
		writeJSONString(&b, p.ID)
	}
	field("Statement")
	b.WriteByte('[')
	for i := range p.Statements {
		if i > 0 {
			b.WriteByte(',')
		}
		p.Statements[i].writeJSON(&b)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func (st *Statement) writeJSON(b *bytes.Buffer) {
	b.WriteByte('{')
	first := true
	field := func(name string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(b, name)
		b.WriteByte(':')
	}
	if st.Sid != "" {
		field("Sid")
		writeJSONString(b, st.Sid)
	}
	field("Effect")
	writeJSONString(b, string(st.Effect))
	if st.Principal != nil {
		field("Principal")
		st.Principal.writeJSON(b)
	}
	if st.NotPrincipal != nil {
		field("NotPrincipal")
		st.NotPrincipal.writeJSON(b)
	}
	lists := []struct {
		name string
		vals []string
	}{{"Action", st.Action}, {"NotAction", st.NotAction}, {"Resource", st.Resource}, {"NotResource", st.NotResource}}
	for _, l := range lists {
		if l.vals != nil {
			field(l.name)
			writeJSONStrings(b, l.vals)
		}
	}
	if st.Conditions != nil {
		field("Condition")
		b.WriteByte('{')
		for i := 0; i < len(st.Conditions); {
			if i > 0 {
				b.WriteByte(',')
			}
			op := st.Conditions[i].Operator
			writeJSONString(b, op)
			b.WriteString(":{")
			for j := i; j < len(st.Conditions) && st.Conditions[j].Operator == op; j++ {
				if j > i {
					b.WriteByte(',')
				}
				writeJSONString(b, st.Conditions[j].Key)
				b.WriteByte(':')
				writeJSONStrings(b, st.Conditions[j].Values)
				i = j
			}
			i++
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

func (p *Principal) writeJSON(b *bytes.Buffer) {
	if p.All {
		b.WriteString(`"*"`)
		return
	}
	b.WriteByte('{')
	first := true
	for _, kv := range []struct {
		name string
		vals []string
	}{{"AWS", p.AWS}, {"CanonicalUser", p.CanonicalUser}, {"Federated", p.Federated}, {"Service", p.Service}} {
		if kv.vals == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(b, kv.name)
		b.WriteByte(':')
		writeJSONStrings(b, kv.vals)
	}
	b.WriteByte('}')
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // marshalling a string cannot fail
	b.Write(enc)
}

func writeJSONStrings(b *bytes.Buffer, vals []string) {
	b.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, v)
	}
	b.WriteByte(']')
}
