package policy

import (
	"strings"
	"unicode/utf8"
)

// token is one element of a compiled wildcard pattern. Policy variables are expanded
// into literal tokens so that a "*" inside a user name never acts as a wildcard.
type token struct {
	kind byte // 'l' literal rune, '*' any run, '?' any one character
	r    rune
}

// lookupFunc resolves a policy variable such as "aws:username". ok is false when the
// request does not carry the key.
type lookupFunc func(name string) (string, bool)

// compilePattern turns a policy string into tokens. With expand set, "${...}" policy
// variables are resolved through lookup; ok is false when a variable cannot be resolved,
// in which case the pattern matches nothing (IAM semantics). Without expand, "${" is
// literal text, as in policies written in the 2008-10-17 language.
func compilePattern(pattern string, expand bool, lookup lookupFunc) (toks []token, ok bool) {
	toks = make([]token, 0, len(pattern))
	for i := 0; i < len(pattern); {
		if expand && strings.HasPrefix(pattern[i:], "${") {
			end := strings.IndexByte(pattern[i+2:], '}')
			if end >= 0 {
				val, found := resolveVariable(pattern[i+2:i+2+end], lookup)
				if !found {
					return nil, false
				}
				for _, r := range val {
					toks = append(toks, token{kind: 'l', r: r})
				}
				i += 2 + end + 1
				continue
			}
		}
		r, size := decodeRune(pattern[i:])
		switch r {
		case '*':
			// Collapse runs of stars: they match the same strings and keep backtracking cheap.
			if n := len(toks); n == 0 || toks[n-1].kind != '*' {
				toks = append(toks, token{kind: '*'})
			}
		case '?':
			toks = append(toks, token{kind: '?'})
		default:
			toks = append(toks, token{kind: 'l', r: r})
		}
		i += size
	}
	return toks, true
}

// resolveVariable resolves the body of a "${...}" variable: the special characters
// ${*}, ${?} and ${$}, a key, or a key with a default ("aws:username, 'anonymous'").
func resolveVariable(body string, lookup lookupFunc) (string, bool) {
	switch body {
	case "*", "?", "$":
		return body, true
	}
	name, def, hasDefault := strings.Cut(body, ",")
	name = strings.TrimSpace(name)
	if lookup != nil {
		if v, ok := lookup(name); ok {
			return v, true
		}
	}
	if hasDefault {
		def = strings.TrimSpace(def)
		if len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'' {
			return def[1 : len(def)-1], true
		}
	}
	return "", false
}

// decodeRune decodes one rune; an invalid UTF-8 byte becomes a private value above
// utf8.MaxRune so that a pattern and a value with the same bytes still match.
func decodeRune(s string) (rune, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size == 1 {
		return utf8.MaxRune + 1 + rune(s[0]), 1
	}
	return r, size
}

// runesOf splits a value the same way compilePattern splits literals.
func runesOf(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, size := decodeRune(s[i:])
		out = append(out, r)
		i += size
	}
	return out
}

// matchTokens reports whether the whole value matches the pattern. It is the classic
// greedy matcher with a single backtrack point, linear for patterns with one star and
// O(len(pattern)*len(value)) in the worst case.
func matchTokens(toks []token, value []rune, fold bool) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(toks) && toks[p].kind == '*':
			star, mark = p, v
			p++
		case p < len(toks) && (toks[p].kind == '?' || runeEqual(toks[p].r, value[v], fold)):
			p++
			v++
		case star >= 0:
			mark++
			v = mark
			p = star + 1
		default:
			return false
		}
	}
	for p < len(toks) && toks[p].kind == '*' {
		p++
	}
	return p == len(toks)
}

func runeEqual(a, b rune, fold bool) bool {
	if a == b {
		return true
	}
	if !fold || a > utf8.MaxRune || b > utf8.MaxRune {
		return false
	}
	return strings.EqualFold(string(a), string(b))
}

// wildcardMatch matches a pattern without policy variables.
func wildcardMatch(pattern, value string, fold bool) bool {
	toks, _ := compilePattern(pattern, false, nil)
	return matchTokens(toks, runesOf(value), fold)
}

// canMatchWithPrefix reports whether the pattern matches at least one string that starts
// with prefix. It runs the pattern as an automaton over prefix: any state still alive
// once prefix is consumed can be completed, because every remaining token accepts some
// character.
func canMatchWithPrefix(toks []token, prefix []rune) bool {
	states := map[int]bool{0: true}
	closure := func(set map[int]bool) {
		for changed := true; changed; {
			changed = false
			for s := range set {
				if s < len(toks) && toks[s].kind == '*' && !set[s+1] {
					set[s+1] = true
					changed = true
				}
			}
		}
	}
	closure(states)
	for _, c := range prefix {
		next := map[int]bool{}
		for s := range states {
			if s >= len(toks) {
				continue
			}
			switch toks[s].kind {
			case '*':
				next[s] = true
			case '?':
				next[s+1] = true
			default:
				if toks[s].r == c {
					next[s+1] = true
				}
			}
		}
		closure(next)
		if len(next) == 0 {
			return false
		}
		states = next
	}
	return len(states) > 0
}

// hasWildcard reports whether s contains a wildcard or a policy variable, which makes a
// condition value not "fixed" for IsPublic.
func hasWildcard(s string) bool {
	return strings.ContainsAny(s, "*?") || strings.Contains(s, "${")
}
