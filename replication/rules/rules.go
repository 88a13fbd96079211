package rules

import (
	"encoding/xml"
	"strings"
)

// Namespace is the XML namespace of S3 request and response bodies.
const Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// MaxRules is the most rules one replication configuration may hold.
const MaxRules = 1000

// S3 error codes returned by Parse and Validate.
const (
	ErrCodeMalformedXML    = "MalformedXML"
	ErrCodeInvalidArgument = "InvalidArgument"
	ErrCodeInvalidRequest  = "InvalidRequest"
)

// Error is a replication configuration problem. Code is the S3 error code to answer
// with; Message is safe to show to the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the Enabled/Disabled switch used throughout the schema. Values are
// case-sensitive, as in S3.
type Status string

const (
	Enabled  Status = "Enabled"
	Disabled Status = "Disabled"
)

// Configuration is a bucket's ReplicationConfiguration.
type Configuration struct {
	Role  string `xml:"Role"`
	Rules []Rule `xml:"Rule"`
}

// Rule is one replication rule. A rule with Filter follows the current ("V2") schema;
// one with Prefix follows the deprecated V1 schema. Parse guarantees exactly one of the
// two is set.
type Rule struct {
	ID                        string                   `xml:"ID,omitempty"`
	Priority                  *int                     `xml:"Priority,omitempty"`
	Prefix                    *string                  `xml:"Prefix,omitempty"`
	Filter                    *Filter                  `xml:"Filter,omitempty"`
	Status                    Status                   `xml:"Status"`
	SourceSelectionCriteria   *SourceSelectionCriteria `xml:"SourceSelectionCriteria,omitempty"`
	ExistingObjectReplication *StatusConfig            `xml:"ExistingObjectReplication,omitempty"`
	Destination               Destination              `xml:"Destination"`
	DeleteMarkerReplication   *StatusConfig            `xml:"DeleteMarkerReplication,omitempty"`
}

// Filter selects the objects a V2 rule applies to. At most one of its fields is set; an
// empty Filter selects every object.
type Filter struct {
	Prefix *string `xml:"Prefix,omitempty"`
	Tag    *Tag    `xml:"Tag,omitempty"`
	And    *And    `xml:"And,omitempty"`
}

// And combines a prefix and tags; an object must match all of them.
type And struct {
	Prefix *string `xml:"Prefix,omitempty"`
	Tags   []Tag   `xml:"Tag"`
}

// Tag is an object tag a filter requires.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// StatusConfig is an element holding only a Status (DeleteMarkerReplication,
// ExistingObjectReplication, SseKmsEncryptedObjects, ReplicaModifications).
type StatusConfig struct {
	Status Status `xml:"Status"`
}

// SourceSelectionCriteria selects additional source objects and changes to replicate.
type SourceSelectionCriteria struct {
	SseKmsEncryptedObjects *StatusConfig `xml:"SseKmsEncryptedObjects,omitempty"`
	ReplicaModifications   *StatusConfig `xml:"ReplicaModifications,omitempty"`
}

// Destination is where a rule replicates to.
type Destination struct {
	Bucket                   string                    `xml:"Bucket"` // "arn:aws:s3:::name"
	Account                  string                    `xml:"Account,omitempty"`
	StorageClass             string                    `xml:"StorageClass,omitempty"`
	AccessControlTranslation *AccessControlTranslation `xml:"AccessControlTranslation,omitempty"`
	EncryptionConfiguration  *EncryptionConfiguration  `xml:"EncryptionConfiguration,omitempty"`
	ReplicationTime          *ReplicationTime          `xml:"ReplicationTime,omitempty"`
	Metrics                  *Metrics                  `xml:"Metrics,omitempty"`
}

// AccessControlTranslation overrides replica ownership; Owner is always "Destination".
type AccessControlTranslation struct {
	Owner string `xml:"Owner"`
}

// EncryptionConfiguration names the KMS key for replicas of SSE-KMS objects.
type EncryptionConfiguration struct {
	ReplicaKmsKeyID string `xml:"ReplicaKmsKeyID,omitempty"`
}

// ReplicationTime is S3 Replication Time Control (RTC).
type ReplicationTime struct {
	Status Status    `xml:"Status"`
	Time   TimeValue `xml:"Time"`
}

// Metrics turns on replication metrics and the missed-threshold events.
type Metrics struct {
	Status         Status     `xml:"Status"`
	EventThreshold *TimeValue `xml:"EventThreshold,omitempty"`
}

// TimeValue is a duration in minutes; S3 accepts only 15.
type TimeValue struct {
	Minutes *int `xml:"Minutes,omitempty"`
}

// storageClasses are the StorageClass values S3's schema allows for a destination.
var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true, "FSX_OPENZFS": true, "FSX_ONTAP": true,
}

// Enabled reports whether the rule's Status is Enabled.
func (r Rule) Enabled() bool { return r.Status == Enabled }

// IsV2 reports whether the rule uses the current schema (a Filter) rather than the
// deprecated top-level Prefix.
func (r Rule) IsV2() bool { return r.Filter != nil }

// ReplicatesDeleteMarkers reports whether delete markers created by a DELETE without a
// version ID are replicated: always for V1 rules, and for V2 rules only with
// DeleteMarkerReplication Enabled.
func (r Rule) ReplicatesDeleteMarkers() bool {
	if r.Filter == nil {
		return true
	}
	return r.DeleteMarkerReplication != nil && r.DeleteMarkerReplication.Status == Enabled
}

// ReplicatesReplicaModifications reports whether metadata changes made to replicas are
// sent back (replica modification sync, V2 only).
func (r Rule) ReplicatesReplicaModifications() bool {
	s := r.SourceSelectionCriteria
	return s != nil && s.ReplicaModifications != nil && s.ReplicaModifications.Status == Enabled
}

// ReplicationTimeEnabled reports whether the rule has Replication Time Control on.
func (r Rule) ReplicationTimeEnabled() bool {
	rt := r.Destination.ReplicationTime
	return rt != nil && rt.Status == Enabled
}

// BucketName returns the destination bucket's name, the last part of its ARN.
func (d Destination) BucketName() string {
	_, name, _ := strings.Cut(d.Bucket, ":::")
	return name
}

// wireConfiguration is Configuration as it appears on the wire, with the root element
// name and namespace.
type wireConfiguration struct {
	XMLName xml.Name `xml:"ReplicationConfiguration"`
	Xmlns   string   `xml:"xmlns,attr"`
	Role    string   `xml:"Role"`
	Rules   []Rule   `xml:"Rule"`
}

// XML returns the canonical ReplicationConfiguration document, in the S3 namespace and
// without an XML declaration (the HTTP layer adds one if it wants it). Parse(c.XML())
// yields a configuration equal to c.
func (c *Configuration) XML() []byte {
	out, err := xml.Marshal(wireConfiguration{Xmlns: Namespace, Role: c.Role, Rules: c.Rules})
	if err != nil {
		// Only unsupported Go types make Marshal fail, and these types are fixed.
		panic("rules: marshal replication configuration: " + err.Error())
	}
	return out
}
