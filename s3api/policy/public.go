package policy

import (
	"regexp"
	"strings"
)

// fixedValueKeys are the condition keys that, compared with fixed values, confine a grant
// to known principals or sources, per S3's "The meaning of public". Lower case.
var fixedValueKeys = map[string]bool{
	"aws:sourcearn":             true,
	"aws:sourcevpc":             true,
	"aws:sourcevpce":            true,
	"aws:sourceowner":           true,
	"aws:sourceaccount":         true,
	"aws:sourceorgid":           true,
	"aws:sourceorgpaths":        true,
	"aws:principalorgid":        true,
	"aws:principalarn":          true,
	"aws:principalaccount":      true,
	"aws:principalorgpaths":     true,
	"aws:userid":                true,
	"s3:dataaccesspointarn":     true,
	"s3:dataaccesspointaccount": true,
	"s3:x-amz-server-side-encryption-aws-kms-key-id": true,
}

// roleSessionPattern is the one wildcard S3 still treats as fixed for aws:userid:
// "<role id>:*", every session of one role.
var roleSessionPattern = regexp.MustCompile(`^[A-Z0-9]+:\*$`)

// Minimum prefix lengths for an aws:SourceIp block to count as confining. S3 does not
// publish its threshold; Pangea treats anything wider than an IPv4 /8 or an IPv6 /32 as
// "the internet", so 0.0.0.0/0, 0.0.0.0/1 and ::/0 stay public.
const (
	minPrivateBitsV4 = 8
	minPrivateBitsV6 = 32
)

// IsPublic reports whether the policy grants access to the public, following S3's rules
// ("The meaning of public"): an Allow statement is public when its principal is "*"
// (or {"AWS": "*"}, an AWS principal containing a wildcard, or a NotPrincipal) unless one
// of its conditions confines it to fixed values: a non-public aws:SourceIp CIDR, or a fixed
// aws:SourceArn, aws:SourceVpc, aws:SourceVpce, aws:SourceOwner, aws:SourceAccount,
// aws:PrincipalOrgID, aws:userid (or "<role id>:*"), s3:DataAccessPointArn,
// s3:DataAccessPointAccount, s3:x-amz-server-side-encryption-aws-kms-key-id and similar.
// Deny statements never make a policy public.
func (p *Policy) IsPublic() bool {
	if p == nil {
		return false
	}
	for i := range p.Statements {
		st := &p.Statements[i]
		if st.Effect != EffectAllow || !st.publicPrincipal() {
			continue
		}
		if !st.confined() {
			return true
		}
	}
	return false
}

func (st *Statement) publicPrincipal() bool {
	if st.NotPrincipal != nil {
		// "Everyone except ..." includes the public.
		return true
	}
	if st.Principal.All {
		return true
	}
	for _, v := range st.Principal.AWS {
		if strings.Contains(v, "*") {
			return true
		}
	}
	return false
}

// confined reports whether one of the statement's conditions limits it to fixed values.
// Conditions are ANDed, so one confining condition is enough. Negated operators, IfExists
// and ForAllValues never confine: each is satisfied by a request that lacks the key.
func (st *Statement) confined() bool {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.op.negated || c.op.ifExists || c.op.qual == qualForAllValues || len(c.Values) == 0 {
			continue
		}
		key := strings.ToLower(c.Key)
		switch {
		case key == "aws:sourceip" && c.op.fam == famIP:
			if allPrivateCIDRs(c.Values) {
				return true
			}
		case fixedValueKeys[key]:
			switch c.op.fam {
			case famString, famStringIgnoreCase, famStringLike, famArn:
				if allFixed(key, c.Values) {
					return true
				}
			}
		}
	}
	return false
}

func allPrivateCIDRs(values []string) bool {
	for _, v := range values {
		p, ok := parseCIDR(v)
		if !ok {
			return false
		}
		min := minPrivateBitsV6
		if p.Addr().Is4() {
			min = minPrivateBitsV4
		}
		if p.Bits() < min {
			return false
		}
	}
	return true
}

func allFixed(key string, values []string) bool {
	for _, v := range values {
		if v == "" {
			return false
		}
		if hasWildcard(v) && !(key == "aws:userid" && roleSessionPattern.MatchString(v)) {
			return false
		}
	}
	return true
}
