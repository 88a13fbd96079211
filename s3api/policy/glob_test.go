package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// globRegexp is an independent reference for wildcard matching.
func globRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, value string
		fold, want     bool
	}{
		{"", "", false, true},
		{"*", "", false, true},
		{"a*", "a", false, true},
		{"a*c", "abbbc", false, true},
		{"a*c", "abbbd", false, false},
		{"*a*a*", "banana", false, true},
		{"a?c", "ac", false, false},
		{"a?c", "aéc", false, true},
		{"S3:GET*", "s3:GetObject", true, true},
		{"S3:GET*", "s3:GetObject", false, false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.value, tt.fold); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q, %v) = %v, want %v", tt.pattern, tt.value, tt.fold, got, tt.want)
		}
	}
}

func TestCanMatchWithPrefix(t *testing.T) {
	tests := []struct {
		pattern, prefix string
		want            bool
	}{
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/", true},
		{"arn:aws:s3:::b", "arn:aws:s3:::b/", false},
		{"arn:aws:s3:::*", "arn:aws:s3:::b/", true},
		{"arn:aws:s3:::b?x", "arn:aws:s3:::b/", true},
		{"arn:aws:s3:::c/*", "arn:aws:s3:::b/", false},
		{"arn:aws:s3:::b/key", "arn:aws:s3:::b/", true},
		{"a", "abc", false},
	}
	for _, tt := range tests {
		toks, _ := compilePattern(tt.pattern, false, nil)
		if got := canMatchWithPrefix(toks, []rune(tt.prefix)); got != tt.want {
			t.Errorf("canMatchWithPrefix(%q, %q) = %v, want %v", tt.pattern, tt.prefix, got, tt.want)
		}
	}
}

func FuzzWildcardMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc", false)
	f.Add("*", "", true)
	f.Add("S3:Get*", "s3:getobject", true)
	f.Fuzz(func(t *testing.T, pattern, value string, fold bool) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(value) || len(pattern) > 64 || len(value) > 64 {
			return
		}
		if fold && (strings.ToLower(pattern) != strings.ToLower(strings.ToUpper(pattern)) ||
			strings.ToLower(value) != strings.ToLower(strings.ToUpper(value))) {
			// Multi-rune case mappings differ between the two implementations; S3 names are ASCII.
			return
		}
		want := globRegexp(pattern, fold).MatchString(value)
		if got := wildcardMatch(pattern, value, fold); got != want {
			t.Fatalf("wildcardMatch(%q, %q, %v) = %v, reference says %v", pattern, value, fold, got, want)
		}
		// A pattern that matches value can certainly match a string starting with any prefix of it.
		if !fold && want {
			toks, _ := compilePattern(pattern, false, nil)
			r := []rune(value)
			if !canMatchWithPrefix(toks, r[:len(r)/2]) {
				t.Fatalf("canMatchWithPrefix(%q, %q) = false although %q matches", pattern, string(r[:len(r)/2]), value)
			}
		}
	})
}
