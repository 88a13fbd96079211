// Package policy parses, validates and evaluates S3 bucket policies, and parses the
// bucket's PublicAccessBlockConfiguration. It is pure: no HTTP, no storage, no clock.
// s3api decides which action and resource a request maps to, builds the condition keys,
// and combines the Decision with ownership and the public access block.
//
// # Policy language
//
// The AWS IAM policy grammar as S3 bucket policies use it: Version ("2012-10-17" or
// "2008-10-17"), Id, Statement (an object or an array) with Sid, Effect, Principal or
// NotPrincipal, Action or NotAction, Resource or NotResource, and Condition. Actions are
// "*" or "s3:<name>" with "*" and "?" wildcards, compared case-insensitively. Resources
// are "*" or S3 ARNs with wildcards, compared case-sensitively. Policy variables
// ("${aws:username}", "${s3:prefix}", the literals "${*}", "${?}", "${$}" and the
// "${key, 'default'}" form) are expanded in resources and in String and Arn condition
// values when Version is 2012-10-17; an unresolvable variable matches nothing.
//
// Conditions support the String, Numeric, Date, Bool, BinaryEquals, IpAddress and
// NotIpAddress (IPv4 and IPv6 CIDRs), Arn and Null operators, the IfExists suffix and the
// ForAnyValue:/ForAllValues: set qualifiers, with IAM's semantics: the values listed for
// one key are ORed; keys and operators are ANDed; a missing key fails a positive operator
// and satisfies a negated one (StringNotEquals, NotIpAddress, ...), IfExists and
// ForAllValues; ForAnyValue fails on a missing key. An unknown operator, or a value the
// operator cannot read (a bad CIDR, date or number), is MalformedPolicy.
//
// # Principals in Pangea
//
// Pangea has one account, AccountID ("000000000000"), and a request's principal is the
// verified access key ("" when anonymous). A policy principal matches an authenticated
// access key K when it is
//
//   - "*" or {"AWS": "*"} (these also match anonymous requests, and only these do);
//   - {"AWS": "K"}, the access key itself;
//   - {"AWS": "arn:aws:iam::000000000000:user/K"};
//   - {"AWS": "arn:aws:iam::000000000000:root"} or {"AWS": "000000000000"}: any
//     authenticated principal of the account;
//   - {"CanonicalUser": "K"}: Pangea's canonical user id is the access key.
//
// Service and Federated principals are accepted in documents but never match: nothing
// in Pangea calls in as an AWS service or a federated identity. When the request does
// not set them, the condition keys aws:username and aws:userid default to the access key.
//
// # Public
//
// IsPublic follows S3's "The meaning of public": see its documentation for the exact
// rules and for Pangea's threshold for a "non-public" aws:SourceIp block.
//
// # Errors
//
// Every problem is an *Error whose Code is the S3 error code (MalformedPolicy for policy
// documents, MalformedXML for PublicAccessBlock bodies) and whose Message can be returned
// to the client.
package policy
