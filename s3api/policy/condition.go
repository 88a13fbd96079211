package policy

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// family groups operators that compare values the same way.
type family uint8

const (
	famString family = iota + 1
	famStringIgnoreCase
	famStringLike
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famArn
	famNull
)

// cmp is the comparison a numeric or date operator applies: request value <cmp> policy value.
type cmp uint8

const (
	cmpEq cmp = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type qualifier uint8

const (
	qualNone qualifier = iota
	qualForAnyValue
	qualForAllValues
)

// operator is a parsed condition operator name.
type operator struct {
	fam      family
	cmp      cmp
	negated  bool // StringNotEquals, NotIpAddress, ...: true when no value matches
	ifExists bool
	qual     qualifier
}

type baseOp struct {
	fam     family
	cmp     cmp
	negated bool
}

// baseOperators are the IAM condition operators without the IfExists suffix or a set
// qualifier. Names are case-sensitive, as in IAM.
var baseOperators = map[string]baseOp{
	"StringEquals":              {famString, cmpEq, false},
	"StringNotEquals":           {famString, cmpEq, true},
	"StringEqualsIgnoreCase":    {famStringIgnoreCase, cmpEq, false},
	"StringNotEqualsIgnoreCase": {famStringIgnoreCase, cmpEq, true},
	"StringLike":                {famStringLike, cmpEq, false},
	"StringNotLike":             {famStringLike, cmpEq, true},
	"NumericEquals":             {famNumeric, cmpEq, false},
	"NumericNotEquals":          {famNumeric, cmpEq, true},
	"NumericLessThan":           {famNumeric, cmpLt, false},
	"NumericLessThanEquals":     {famNumeric, cmpLe, false},
	"NumericGreaterThan":        {famNumeric, cmpGt, false},
	"NumericGreaterThanEquals":  {famNumeric, cmpGe, false},
	"DateEquals":                {famDate, cmpEq, false},
	"DateNotEquals":             {famDate, cmpEq, true},
	"DateLessThan":              {famDate, cmpLt, false},
	"DateLessThanEquals":        {famDate, cmpLe, false},
	"DateGreaterThan":           {famDate, cmpGt, false},
	"DateGreaterThanEquals":     {famDate, cmpGe, false},
	"Bool":                      {famBool, cmpEq, false},
	"BinaryEquals":              {famBinary, cmpEq, false},
	"IpAddress":                 {famIP, cmpEq, false},
	"NotIpAddress":              {famIP, cmpEq, true},
	"ArnEquals":                 {famArn, cmpEq, false},
	"ArnLike":                   {famArn, cmpEq, false},
	"ArnNotEquals":              {famArn, cmpEq, true},
	"ArnNotLike":                {famArn, cmpEq, true},
	"Null":                      {famNull, cmpEq, false},
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (operator, error) {
	var op operator
	rest := name
	if q, tail, ok := strings.Cut(rest, ":"); ok {
		switch q {
		case "ForAnyValue":
			op.qual = qualForAnyValue
		case "ForAllValues":
			op.qual = qualForAllValues
		default:
			return op, malformed("Invalid Condition type : %s", name)
		}
		rest = tail
	}
	base, ok := baseOperators[rest]
	if !ok {
		trimmed, found := strings.CutSuffix(rest, "IfExists")
		if !found {
			return op, malformed("Invalid Condition type : %s", name)
		}
		base, ok = baseOperators[trimmed]
		if !ok || base.fam == famNull {
			return op, malformed("Invalid Condition type : %s", name)
		}
		op.ifExists = true
	}
	op.fam, op.cmp, op.negated = base.fam, base.cmp, base.negated
	return op, nil
}

// validate checks that every policy value is meaningful for the operator, so that a typo
// in a CIDR or a date is reported at PutBucketPolicy rather than silently never matching.
func (c *Condition) validate() error {
	for _, v := range c.Values {
		ok := true
		switch c.op.fam {
		case famNumeric:
			_, err := strconv.ParseFloat(v, 64)
			ok = err == nil
		case famDate:
			_, ok = parseDate(v)
		case famBool, famNull:
			_, err := strconv.ParseBool(strings.ToLower(v))
			ok = err == nil && (strings.EqualFold(v, "true") || strings.EqualFold(v, "false"))
		case famBinary:
			_, err := base64.StdEncoding.DecodeString(v)
			ok = err == nil
		case famIP:
			_, ok = parseCIDR(v)
		}
		if !ok {
			return malformed("Invalid value %q for condition %s key %s", v, c.Operator, c.Key)
		}
	}
	return nil
}

// parseCIDR accepts a CIDR block or a single address (a /32 or /128 block). IPv4-mapped
// IPv6 addresses are unmapped so that "::ffff:10.0.0.1" and "10.0.0.1" are one address.
func parseCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// dateLayouts are the ISO 8601 forms IAM documents for Date operators.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// parseDate accepts ISO 8601 dates and date-times, or epoch seconds.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// eval applies one condition to the request's values for its key.
// present is false when the request has no value for the key.
func (c *Condition) eval(reqVals []string, vars lookupFunc, expand bool) bool {
	present := len(reqVals) > 0
	if c.op.fam == famNull {
		for _, v := range c.Values {
			if strings.EqualFold(v, "true") != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.op.ifExists:
			return true
		case c.op.qual == qualForAllValues:
			return true
		case c.op.qual == qualForAnyValue:
			return false
		default:
			// A negated operator is satisfied by a missing key: nothing in the request equals
			// the values it excludes.
			return c.op.negated
		}
	}
	// matches reports whether one request value matches any policy value under the
	// positive form of the operator.
	matches := func(rv string) bool {
		for _, pv := range c.Values {
			if c.compare(rv, pv, vars, expand) {
				return true
			}
		}
		return false
	}
	switch c.op.qual {
	case qualForAllValues:
		for _, rv := range reqVals {
			if matches(rv) == c.op.negated {
				return false
			}
		}
		return true
	case qualForAnyValue:
		for _, rv := range reqVals {
			if matches(rv) != c.op.negated {
				return true
			}
		}
		return false
	default:
		matched := false
		for _, rv := range reqVals {
			if matches(rv) {
				matched = true
				break
			}
		}
		return matched != c.op.negated
	}
}

// compare is the positive comparison of one request value with one policy value.
func (c *Condition) compare(rv, pv string, vars lookupFunc, expand bool) bool {
	switch c.op.fam {
	case famString, famStringIgnoreCase:
		if expand && strings.Contains(pv, "${") {
			toks, ok := compilePattern(escapeWildcards(pv), true, vars)
			if !ok {
				return false
			}
			return matchTokens(toks, runesOf(rv), c.op.fam == famStringIgnoreCase)
		}
		if c.op.fam == famStringIgnoreCase {
			return strings.EqualFold(rv, pv)
		}
		return rv == pv
	case famStringLike:
		toks, ok := compilePattern(pv, expand, vars)
		return ok && matchTokens(toks, runesOf(rv), false)
	case famNumeric:
		r, err1 := strconv.ParseFloat(strings.TrimSpace(rv), 64)
		p, err2 := strconv.ParseFloat(pv, 64)
		return err1 == nil && err2 == nil && compareOrdered(r, p, c.op.cmp)
	case famDate:
		r, ok1 := parseDate(rv)
		p, ok2 := parseDate(pv)
		return ok1 && ok2 && compareOrdered(r.UnixNano(), p.UnixNano(), c.op.cmp)
	case famBool:
		return strings.EqualFold(strings.TrimSpace(rv), pv)
	case famBinary:
		return rv == pv
	case famIP:
		p, ok := parseCIDR(pv)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(strings.TrimSpace(rv))
		if err != nil {
			return false
		}
		return p.Contains(a.Unmap().WithZone(""))
	case famArn:
		return arnMatch(pv, rv, vars, expand)
	}
	return false
}

func compareOrdered[T int64 | float64](r, p T, c cmp) bool {
	switch c {
	case cmpLt:
		return r < p
	case cmpLe:
		return r <= p
	case cmpGt:
		return r > p
	case cmpGe:
		return r >= p
	default:
		return r == p
	}
}

// escapeWildcards keeps "*" and "?" literal for StringEquals when the value is run
// through the pattern compiler only to expand policy variables. The compiler has no
// escape syntax, so the characters are expanded as ${*} and ${?}, which it treats as
// literals.
func escapeWildcards(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i:], '}'); end >= 0 {
				b.WriteString(s[i : i+end+1]) // a variable: copied as is
				i += end
				continue
			}
		}
		switch s[i] {
		case '*':
			b.WriteString("${*}")
		case '?':
			b.WriteString("${?}")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// arnMatch compares ARNs component by component, each component with wildcards, as IAM
// does for ArnEquals and ArnLike (they behave identically). A policy value that does not
// start with "arn:" (such as "*") is matched as a whole-string pattern.
func arnMatch(pattern, value string, vars lookupFunc, expand bool) bool {
	pp := strings.SplitN(pattern, ":", 6)
	vp := strings.SplitN(value, ":", 6)
	if len(pp) != 6 {
		if strings.HasPrefix(pattern, "arn:") {
			return false // a truncated ARN names nothing
		}
		toks, ok := compilePattern(pattern, expand, vars)
		return ok && matchTokens(toks, runesOf(value), false)
	}
	if len(vp) != 6 {
		return false
	}
	for i := range pp {
		toks, ok := compilePattern(pp[i], expand, vars)
		if !ok || !matchTokens(toks, runesOf(vp[i]), false) {
			return false
		}
	}
	return true
}
