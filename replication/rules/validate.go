package rules

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits from the S3 API reference.
const (
	maxIDLength       = 255
	maxPrefixLength   = 1024
	maxTagKeyLength   = 128
	maxTagValueLength = 256
	// rtcMinutes is the only threshold S3 accepts for ReplicationTime and EventThreshold.
	rtcMinutes = 15
)

// Validate checks the rules S3 applies to a replication configuration beyond the XML
// schema. Parse calls it; callers building a Configuration in code can call it too.
// Messages follow S3's where S3's are known.
func (c *Configuration) Validate() error {
	if strings.TrimSpace(c.Role) == "" {
		return invalidArgument("Invalid Role: the replication configuration must name an IAM role ARN")
	}
	switch {
	case len(c.Rules) == 0:
		return malformedXML()
	case len(c.Rules) > MaxRules:
		return invalidRequest("Number of rules in the replication configuration exceeds the maximum of %d", MaxRules)
	}
	ids := map[string]bool{}
	priorities := map[int]bool{}
	var v1Prefixes []string
	v2 := c.Rules[0].Filter != nil
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.validate(); err != nil {
			return err
		}
		if (r.Filter != nil) != v2 {
			return invalidRequest("Rules in one replication configuration must all use Filter (current schema) or all use Prefix (deprecated schema)")
		}
		if r.ID != "" {
			if ids[r.ID] {
				return invalidArgument("Rule Id must be unique. Found same ID for more than one rule")
			}
			ids[r.ID] = true
		}
		if r.Filter != nil {
			if priorities[*r.Priority] {
				return invalidRequest("Found overlapping priority %d: rules must have distinct priorities", *r.Priority)
			}
			priorities[*r.Priority] = true
		} else {
			v1Prefixes = append(v1Prefixes, *r.Prefix)
		}
	}
	// Deprecated-schema rules have no priority to settle a conflict, so their prefixes
	// must not overlap. After sorting, a prefix relation always shows between neighbours.
	sort.Strings(v1Prefixes)
	for i := 1; i < len(v1Prefixes); i++ {
		if strings.HasPrefix(v1Prefixes[i], v1Prefixes[i-1]) {
			return invalidRequest("Found overlapping prefixes '%s' and '%s'", v1Prefixes[i-1], v1Prefixes[i])
		}
	}
	return nil
}

func (r *Rule) validate() error {
	if utf8.RuneCountInString(r.ID) > maxIDLength {
		return invalidArgument("ID length should not exceed allowed limit of %d", maxIDLength)
	}
	if r.Status != Enabled && r.Status != Disabled {
		return malformedXML()
	}
	switch {
	case r.Prefix == nil && r.Filter == nil:
		return malformedXML()
	case r.Prefix != nil && r.Filter != nil:
		return malformedXML()
	}
	if r.Priority != nil && *r.Priority < 0 {
		return invalidArgument("Priority must not be negative")
	}
	if r.Filter == nil {
		// Deprecated (V1) schema.
		if err := validPrefix(*r.Prefix); err != nil {
			return err
		}
		if r.DeleteMarkerReplication != nil {
			return invalidRequest("DeleteMarkerReplication cannot be specified for this version of Cross Region Replication configuration schema. Use a Filter to specify DeleteMarkerReplication")
		}
		if r.ReplicatesReplicaModifications() || (r.SourceSelectionCriteria != nil && r.SourceSelectionCriteria.ReplicaModifications != nil) {
			return invalidRequest("ReplicaModifications cannot be specified for this version of Cross Region Replication configuration schema. Use a Filter to specify ReplicaModifications")
		}
	} else {
		if r.Priority == nil {
			return invalidRequest("Priority must be specified for this version of Cross Region Replication configuration schema. Please refer to S3 Developer Guide for more information.")
		}
		if r.DeleteMarkerReplication == nil {
			return invalidRequest("DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema. Please refer to S3 Developer Guide for more information.")
		}
		if err := r.Filter.validate(); err != nil {
			return err
		}
		if r.Filter.hasTags() && r.DeleteMarkerReplication.Status == Enabled {
			return invalidRequest("Delete marker replication is not supported if any Tag filter is specified. Please refer to S3 Developer Guide for more information.")
		}
	}
	if err := validStatusConfig(r.ExistingObjectReplication); err != nil {
		return err
	}
	if err := validStatusConfig(r.DeleteMarkerReplication); err != nil {
		return err
	}
	if s := r.SourceSelectionCriteria; s != nil {
		if err := validStatusConfig(s.SseKmsEncryptedObjects); err != nil {
			return err
		}
		if err := validStatusConfig(s.ReplicaModifications); err != nil {
			return err
		}
	}
	return r.validateDestination()
}

func validStatusConfig(s *StatusConfig) error {
	if s != nil && s.Status != Enabled && s.Status != Disabled {
		return malformedXML()
	}
	return nil
}

func validPrefix(p string) error {
	if utf8.RuneCountInString(p) > maxPrefixLength {
		return invalidArgument("Prefix length should not exceed allowed limit of %d", maxPrefixLength)
	}
	return nil
}

func (f *Filter) validate() error {
	n := 0
	if f.Prefix != nil {
		n++
		if err := validPrefix(*f.Prefix); err != nil {
			return err
		}
	}
	if f.Tag != nil {
		n++
		if err := f.Tag.validate(); err != nil {
			return err
		}
	}
	if f.And != nil {
		n++
		if f.And.Prefix != nil {
			if err := validPrefix(*f.And.Prefix); err != nil {
				return err
			}
		}
		seen := map[string]bool{}
		for _, t := range f.And.Tags {
			if err := t.validate(); err != nil {
				return err
			}
			if seen[t.Key] {
				return invalidRequest("Duplicate Tag Keys are not allowed.")
			}
			seen[t.Key] = true
		}
	}
	if n > 1 {
		return malformedXML()
	}
	return nil
}

func (f *Filter) hasTags() bool {
	return f.Tag != nil || (f.And != nil && len(f.And.Tags) > 0)
}

func (t Tag) validate() error {
	switch {
	case t.Key == "":
		return invalidArgument("The TagKey you have provided is invalid")
	case utf8.RuneCountInString(t.Key) > maxTagKeyLength:
		return invalidArgument("The TagKey you have provided is too long, max length is %d", maxTagKeyLength)
	case utf8.RuneCountInString(t.Value) > maxTagValueLength:
		return invalidArgument("The TagValue you have provided is too long, max length is %d", maxTagValueLength)
	}
	return nil
}

func (r *Rule) validateDestination() error {
	d := &r.Destination
	if !validBucketARN(d.Bucket) {
		return invalidArgument("Invalid bucket ARN.")
	}
	if d.StorageClass != "" && !storageClasses[d.StorageClass] {
		return malformedXML()
	}
	if d.AccessControlTranslation != nil {
		if d.AccessControlTranslation.Owner != "Destination" {
			return malformedXML()
		}
		if strings.TrimSpace(d.Account) == "" {
			return invalidRequest("Destination Account must be specified if AccessControlTranslation is specified")
		}
	}
	kmsObjects := r.SourceSelectionCriteria != nil && r.SourceSelectionCriteria.SseKmsEncryptedObjects != nil &&
		r.SourceSelectionCriteria.SseKmsEncryptedObjects.Status == Enabled
	kmsKey := d.EncryptionConfiguration != nil && d.EncryptionConfiguration.ReplicaKmsKeyID != ""
	switch {
	case kmsObjects && !kmsKey:
		return invalidRequest("ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present.")
	case kmsKey && !kmsObjects:
		return invalidRequest("SseKmsEncryptedObjects must be specified if EncryptionConfiguration is present.")
	}
	if rt := d.ReplicationTime; rt != nil {
		if rt.Status != Enabled && rt.Status != Disabled {
			return malformedXML()
		}
		if rt.Time.Minutes == nil || *rt.Time.Minutes != rtcMinutes {
			return invalidArgument("Invalid ReplicationTime Minutes: the only valid value is %d", rtcMinutes)
		}
		if rt.Status == Enabled && (d.Metrics == nil || d.Metrics.Status != Enabled) {
			return invalidRequest("Replication Time Control (RTC) must be used in conjunction with Metrics: Metrics must be Enabled when ReplicationTime is Enabled")
		}
	}
	if m := d.Metrics; m != nil {
		if m.Status != Enabled && m.Status != Disabled {
			return malformedXML()
		}
		if m.EventThreshold != nil && m.EventThreshold.Minutes != nil && *m.EventThreshold.Minutes != rtcMinutes {
			return invalidArgument("Invalid Metrics EventThreshold Minutes: the only valid value is %d", rtcMinutes)
		}
	}
	return nil
}

// validBucketARN accepts "arn:aws:s3:::<bucket name>" with an S3 bucket name: 3 to 63
// lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.
func validBucketARN(arn string) bool {
	name, ok := strings.CutPrefix(arn, "arn:aws:s3:::")
	if !ok || len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		alnum := ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9'
		if !alnum && ch != '.' && ch != '-' {
			return false
		}
		if (i == 0 || i == len(name)-1) && !alnum {
			return false
		}
	}
	return true
}
