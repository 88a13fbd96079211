package policy

import "strings"

// Request is what a policy is evaluated against.
type Request struct {
	// Principal is the verified access key, or "" for an anonymous request.
	Principal string
	// Action is the IAM action, for example "s3:GetObject".
	Action string
	// Resource is the ARN acted on: "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key".
	Resource string
	// Conditions are the request's condition keys ("aws:SourceIp", "s3:prefix",
	// "aws:SecureTransport", ...). Keys are matched case-insensitively, as in IAM;
	// the values of one key form a set for ForAnyValue/ForAllValues. aws:SourceIp is a
	// bare address without a port.
	Conditions map[string][]string
}

// Evaluate decides whether the policy allows or denies the request. An applicable Deny
// statement wins over any Allow; Default means no statement applies. A nil policy
// returns Default.
func (p *Policy) Evaluate(r Request) Decision {
	if p == nil {
		return Default
	}
	ctx := newEvalContext(r)
	expand := p.Version == Version2012
	allowed := false
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.applies(r, ctx, expand) {
			continue
		}
		if st.Effect == EffectDeny {
			return Deny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return Default
}

// evalContext holds the request's condition keys folded to lower case, built once per
// Evaluate.
type evalContext struct {
	keys map[string][]string
}

func newEvalContext(r Request) *evalContext {
	keys := make(map[string][]string, len(r.Conditions)+2)
	for k, v := range r.Conditions {
		lk := strings.ToLower(k)
		keys[lk] = append(keys[lk], v...)
	}
	// aws:username and aws:userid are implied by the principal unless the caller says
	// otherwise, so ${aws:username} works in resources without extra wiring.
	if r.Principal != "" {
		if _, ok := keys["aws:username"]; !ok {
			keys["aws:username"] = []string{r.Principal}
		}
		if _, ok := keys["aws:userid"]; !ok {
			keys["aws:userid"] = []string{r.Principal}
		}
	}
	return &evalContext{keys: keys}
}

func (c *evalContext) values(key string) []string { return c.keys[strings.ToLower(key)] }

func (c *evalContext) lookup(name string) (string, bool) {
	v := c.keys[strings.ToLower(name)]
	if len(v) != 1 {
		// Multi-valued keys cannot be substituted into a single string.
		return "", false
	}
	return v[0], true
}

func (st *Statement) applies(r Request, ctx *evalContext, expand bool) bool {
	if st.Principal != nil && !st.Principal.matches(r.Principal) {
		return false
	}
	if st.NotPrincipal != nil && st.NotPrincipal.matches(r.Principal) {
		return false
	}
	if st.Action != nil && !matchAnyAction(st.Action, r.Action) {
		return false
	}
	if st.NotAction != nil && matchAnyAction(st.NotAction, r.Action) {
		return false
	}
	if st.Resource != nil && !matchAnyResource(st.Resource, r.Resource, ctx, expand) {
		return false
	}
	if st.NotResource != nil && matchAnyResource(st.NotResource, r.Resource, ctx, expand) {
		return false
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if !c.eval(ctx.values(c.Key), ctx.lookup, expand) {
			return false
		}
	}
	return true
}

// matches maps a request principal (an access key, "" for anonymous) onto the policy's
// principal forms; see the package documentation for the mapping.
func (p *Principal) matches(accessKey string) bool {
	if p.All {
		return true
	}
	for _, v := range p.AWS {
		if v == "*" {
			return true
		}
		if accessKey == "" {
			continue
		}
		switch v {
		case accessKey, AccountID, "arn:aws:iam::" + AccountID + ":root", "arn:aws:iam::" + AccountID + ":user/" + accessKey:
			return true
		}
	}
	if accessKey == "" {
		return false
	}
	for _, v := range p.CanonicalUser {
		if v == accessKey {
			return true
		}
	}
	// Service and Federated principals never match: Pangea has no AWS services or
	// identity federation calling in.
	return false
}

func matchAnyAction(patterns []string, action string) bool {
	for _, p := range patterns {
		if p == "*" || wildcardMatch(p, action, true) {
			return true
		}
	}
	return false
}

func matchAnyResource(patterns []string, resource string, ctx *evalContext, expand bool) bool {
	value := runesOf(resource)
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		toks, ok := compilePattern(p, expand, ctx.lookup)
		if ok && matchTokens(toks, value, false) {
			return true
		}
	}
	return false
}
