package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pangea-s3/pangea/proto/regionpb"
	"github.com/pangea-s3/pangea/storage"
)

// This file holds the encodings of what crosses the wire or the log: the raft log
// entry (a submission: the commands of one Commit, applied together and answered
// together) and the translation of storage Results and errors to and from the
// Region gRPC messages.

// submissionV1 is the first byte of every raft log entry this release writes.
const submissionV1 = 1

// maxSubmissionCommands bounds what a decoder accepts, so a corrupt count cannot
// make it allocate without bound.
const maxSubmissionCommands = 1 << 16

// encodeSubmission encodes cmds as one log entry:
// 0x01 | uvarint n | n x (uvarint len | storage.Command.MarshalBinary).
// An empty submission is valid: a new leader commits one to learn that every
// earlier entry is applied.
func encodeSubmission(cmds []storage.Command) ([]byte, error) {
	enc := make([][]byte, len(cmds))
	size := 1 + binary.MaxVarintLen64
	for i, c := range cmds {
		b, err := storage.MarshalCommand(c)
		if err != nil {
			return nil, err
		}
		enc[i] = b
		size += binary.MaxVarintLen64 + len(b)
	}
	return appendSubmission(make([]byte, 0, size), enc), nil
}

// appendSubmission frames already-encoded commands.
func appendSubmission(b []byte, cmds [][]byte) []byte {
	b = append(b, submissionV1)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// decodeSubmission decodes a log entry. It never panics; malformed input (including
// a malformed command inside) yields an error wrapping storage.ErrInvalidArgument
// or storage.ErrUnsupportedFormatVersion.
func decodeSubmission(b []byte) ([]storage.Command, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty log entry", storage.ErrInvalidArgument)
	}
	if b[0] != submissionV1 {
		return nil, fmt.Errorf("%w: log entry format %d", storage.ErrUnsupportedFormatVersion, b[0])
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	// Every command takes at least 3 bytes (length, format, op).
	if k <= 0 || n > maxSubmissionCommands || n > uint64(len(b)-k)/3 {
		return nil, fmt.Errorf("%w: log entry command count", storage.ErrInvalidArgument)
	}
	b = b[k:]
	cmds := make([]storage.Command, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: log entry command %d truncated", storage.ErrInvalidArgument, i)
		}
		// The entry's bytes are raft's and nobody writes them: commands may share them.
		c, err := storage.UnmarshalCommandShared(b[k : k+int(l)])
		if err != nil {
			return nil, fmt.Errorf("log entry command %d: %w", i, err)
		}
		cmds = append(cmds, c)
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after log entry", storage.ErrInvalidArgument, len(b))
	}
	return cmds, nil
}

// marshalCommands encodes commands for a gRPC Submission.
func marshalCommands(cmds []storage.Command) ([][]byte, error) {
	out := make([][]byte, len(cmds))
	for i, c := range cmds {
		b, err := storage.MarshalCommand(c)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// unmarshalCommands decodes a gRPC Submission's commands.
func unmarshalCommands(in [][]byte) ([]storage.Command, error) {
	if len(in) > maxSubmissionCommands {
		return nil, fmt.Errorf("%w: %d commands in one submission", storage.ErrInvalidArgument, len(in))
	}
	out := make([]storage.Command, len(in))
	for i, b := range in {
		// gRPC gave the submission its own bytes (the proto codec copies them out
		// of its buffers): commands may share them.
		c, err := storage.UnmarshalCommandShared(b)
		if err != nil {
			return nil, fmt.Errorf("command %d: %w", i, err)
		}
		out[i] = c
	}
	return out, nil
}

// errorCodes maps storage sentinels to wire codes, both ways. Order matters only
// for errors wrapping two sentinels: the first match wins.
var errorCodes = []struct {
	code regionpb.ErrorCode
	err  error
}{
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_BUCKET, storage.ErrNoSuchBucket},
	{regionpb.ErrorCode_ERROR_CODE_BUCKET_ALREADY_EXISTS, storage.ErrBucketAlreadyExists},
	{regionpb.ErrorCode_ERROR_CODE_BUCKET_ALREADY_OWNED_BY_YOU, storage.ErrBucketAlreadyOwnedByYou},
	{regionpb.ErrorCode_ERROR_CODE_BUCKET_NOT_EMPTY, storage.ErrBucketNotEmpty},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_KEY, storage.ErrNoSuchKey},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_VERSION, storage.ErrNoSuchVersion},
	{regionpb.ErrorCode_ERROR_CODE_DELETE_MARKER, storage.ErrDeleteMarker},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_UPLOAD, storage.ErrNoSuchUpload},
	{regionpb.ErrorCode_ERROR_CODE_INVALID_PART, storage.ErrInvalidPart},
	{regionpb.ErrorCode_ERROR_CODE_INVALID_PART_ORDER, storage.ErrInvalidPartOrder},
	{regionpb.ErrorCode_ERROR_CODE_ENTITY_TOO_SMALL, storage.ErrEntityTooSmall},
	{regionpb.ErrorCode_ERROR_CODE_ENTITY_TOO_LARGE, storage.ErrEntityTooLarge},
	{regionpb.ErrorCode_ERROR_CODE_INCOMPLETE_BODY, storage.ErrIncompleteBody},
	{regionpb.ErrorCode_ERROR_CODE_BAD_DIGEST, storage.ErrBadDigest},
	{regionpb.ErrorCode_ERROR_CODE_CHECKSUM_MISMATCH, storage.ErrChecksumMismatch},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_CONFIG, storage.ErrNoSuchConfig},
	{regionpb.ErrorCode_ERROR_CODE_INVALID_VERSION_ID, storage.ErrInvalidVersionID},
	{regionpb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, storage.ErrInvalidArgument},
	{regionpb.ErrorCode_ERROR_CODE_UNSUPPORTED_FORMAT_VERSION, storage.ErrUnsupportedFormatVersion},
	{regionpb.ErrorCode_ERROR_CODE_BLOB_MISSING, storage.ErrBlobMissing},
	{regionpb.ErrorCode_ERROR_CODE_STORE_CLOSED, storage.ErrClosed},
	{regionpb.ErrorCode_ERROR_CODE_ALREADY_APPLIED, storage.ErrAlreadyApplied},
	{regionpb.ErrorCode_ERROR_CODE_PRECONDITION_FAILED, storage.ErrPreconditionFailed},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_MRAP, storage.ErrNoSuchMRAP},
	{regionpb.ErrorCode_ERROR_CODE_NO_SUCH_ASYNC_REQUEST, storage.ErrNoSuchAsyncRequest},
	{regionpb.ErrorCode_ERROR_CODE_MRAP_ALIAS_TAKEN, storage.ErrMRAPAliasTaken}, // before the one it wraps
	{regionpb.ErrorCode_ERROR_CODE_MRAP_ALREADY_EXISTS, storage.ErrMRAPAlreadyExists},
	{regionpb.ErrorCode_ERROR_CODE_MRAP_ROUTE_CONFLICT, storage.ErrMRAPRouteConflict},
	{regionpb.ErrorCode_ERROR_CODE_INVALID_MRAP, storage.ErrInvalidMRAP},
	{regionpb.ErrorCode_ERROR_CODE_NOT_LEADER, errNotLeader},
	{regionpb.ErrorCode_ERROR_CODE_UNKNOWN_OUTCOME, ErrUnknownOutcome},
	{regionpb.ErrorCode_ERROR_CODE_NO_LEADER, ErrNoLeader},
	{regionpb.ErrorCode_ERROR_CODE_CLOSED, ErrClosed},
	{regionpb.ErrorCode_ERROR_CODE_FORMAT_NOT_READY, ErrFormatNotReady},
}

// wireError is an error received from another member: its text, and the sentinel
// its code names (nil for ERROR_CODE_UNSPECIFIED), so errors.Is works across the
// wire as it does locally.
type wireError struct {
	msg      string
	sentinel error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.sentinel }

func errorToPB(err error) *regionpb.Error {
	if err == nil {
		return nil
	}
	code := regionpb.ErrorCode_ERROR_CODE_UNSPECIFIED
	for _, ec := range errorCodes {
		if errors.Is(err, ec.err) {
			code = ec.code
			break
		}
	}
	return &regionpb.Error{Code: code, Message: err.Error()}
}

func errorFromPB(e *regionpb.Error) error {
	if e == nil {
		return nil
	}
	we := &wireError{msg: e.GetMessage()}
	for _, ec := range errorCodes {
		if ec.code == e.GetCode() {
			we.sentinel = ec.err
			break
		}
	}
	if we.msg == "" {
		we.msg = fmt.Sprintf("node: remote error %v", e.GetCode())
	}
	switch {
	case errors.Is(we, ErrUnknownOutcome):
		return &RetryableError{Err: we, Unknown: true}
	case errors.Is(we, ErrNoLeader), errors.Is(we, ErrClosed), errors.Is(we, ErrFormatNotReady):
		return &RetryableError{Err: we}
	}
	return we
}

func timeToPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromPB(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func checksumToPB(c *storage.Checksum) *regionpb.Checksum {
	if c == nil {
		return nil
	}
	return &regionpb.Checksum{Algorithm: c.Algorithm, Value: c.Value, Type: c.Type}
}

func checksumFromPB(c *regionpb.Checksum) *storage.Checksum {
	if c == nil {
		return nil
	}
	return &storage.Checksum{Algorithm: c.GetAlgorithm(), Value: c.GetValue(), Type: c.GetType()}
}

func metaToPB(m storage.ObjectMeta) *regionpb.ObjectMeta {
	pm := &regionpb.ObjectMeta{
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, ContentDisposition: m.ContentDisposition,
		ContentLanguage: m.ContentLanguage, CacheControl: m.CacheControl, Expires: m.Expires,
		UserMeta: m.UserMeta, StorageClass: m.StorageClass,
	}
	for _, t := range m.Tags {
		pm.Tags = append(pm.Tags, &regionpb.Tag{Key: t.Key, Value: t.Value})
	}
	return pm
}

func metaFromPB(pm *regionpb.ObjectMeta) storage.ObjectMeta {
	if pm == nil {
		return storage.ObjectMeta{}
	}
	m := storage.ObjectMeta{
		ContentType: pm.GetContentType(), ContentEncoding: pm.GetContentEncoding(), ContentDisposition: pm.GetContentDisposition(),
		ContentLanguage: pm.GetContentLanguage(), CacheControl: pm.GetCacheControl(), Expires: pm.GetExpires(),
		StorageClass: pm.GetStorageClass(),
	}
	if len(pm.GetUserMeta()) > 0 {
		m.UserMeta = pm.GetUserMeta()
	}
	for _, t := range pm.GetTags() {
		m.Tags = append(m.Tags, storage.Tag{Key: t.GetKey(), Value: t.GetValue()})
	}
	return m
}

func versionToPB(v storage.ObjectVersion) *regionpb.ObjectVersion {
	return &regionpb.ObjectVersion{
		Bucket: v.Bucket, Key: v.Key,
		Id:     &regionpb.VersionID{Time: v.ID.Time, Region: v.ID.Region, Seq: v.ID.Seq},
		IsNull: v.IsNull, IsLatest: v.IsLatest, DeleteMarker: v.DeleteMarker,
		ModTime: timeToPB(v.ModTime), Size: v.Size, Etag: v.ETag, Meta: metaToPB(v.Meta),
		Checksum: checksumToPB(v.Checksum), PartSizes: v.PartSizes, Owner: v.Owner,
		ReplicationStatus: v.ReplicationStatus,
	}
}

// versionFromPB rebuilds a version's public fields. Where its body is stays
// unknown: a version answered by the leader is for the caller's reply, not for
// OpenObject (which takes versions from this member's own store).
func versionFromPB(p *regionpb.ObjectVersion) storage.ObjectVersion {
	if p == nil {
		return storage.ObjectVersion{}
	}
	v := storage.ObjectVersion{
		Bucket: p.GetBucket(), Key: p.GetKey(),
		ID:     storage.VersionID{Time: p.GetId().GetTime(), Region: p.GetId().GetRegion(), Seq: p.GetId().GetSeq()},
		IsNull: p.GetIsNull(), IsLatest: p.GetIsLatest(), DeleteMarker: p.GetDeleteMarker(),
		ModTime: timeFromPB(p.GetModTime()), Size: p.GetSize(), ETag: p.GetEtag(), Meta: metaFromPB(p.GetMeta()),
		Checksum: checksumFromPB(p.GetChecksum()), Owner: p.GetOwner(), ReplicationStatus: p.GetReplicationStatus(),
	}
	if len(p.GetPartSizes()) > 0 {
		v.PartSizes = p.GetPartSizes()
	}
	return v
}

func uploadToPB(u storage.MultipartUpload) *regionpb.MultipartUpload {
	return &regionpb.MultipartUpload{
		Bucket: u.Bucket, Key: u.Key, UploadId: u.UploadID, Initiated: timeToPB(u.Initiated),
		Meta: metaToPB(u.Meta), ChecksumAlgorithm: u.ChecksumAlgorithm, Owner: u.Owner,
	}
}

func uploadFromPB(p *regionpb.MultipartUpload) storage.MultipartUpload {
	if p == nil {
		return storage.MultipartUpload{}
	}
	return storage.MultipartUpload{
		Bucket: p.GetBucket(), Key: p.GetKey(), UploadID: p.GetUploadId(), Initiated: timeFromPB(p.GetInitiated()),
		Meta: metaFromPB(p.GetMeta()), ChecksumAlgorithm: p.GetChecksumAlgorithm(), Owner: p.GetOwner(),
	}
}

func partToPB(p storage.Part) *regionpb.Part {
	return &regionpb.Part{Number: int64(p.Number), Size: p.Size, Etag: p.ETag, Checksum: checksumToPB(p.Checksum), ModTime: timeToPB(p.ModTime)}
}

func partFromPB(p *regionpb.Part) storage.Part {
	if p == nil {
		return storage.Part{}
	}
	return storage.Part{Number: int(p.GetNumber()), Size: p.GetSize(), ETag: p.GetEtag(), Checksum: checksumFromPB(p.GetChecksum()), ModTime: timeFromPB(p.GetModTime())}
}

// resultToPB encodes every public field of r. Empty sub-results are omitted.
func resultToPB(r storage.Result) *regionpb.Result {
	pr := &regionpb.Result{Error: errorToPB(r.Err), VersionId: r.VersionID}
	if !isZeroVersion(r.Version) {
		pr.Version = versionToPB(r.Version)
	}
	if r.Delete != (storage.DeleteResult{}) {
		pr.Delete = &regionpb.DeleteResult{VersionId: r.Delete.VersionID, DeleteMarker: r.Delete.DeleteMarker}
	}
	if r.Part.Number != 0 || r.Part.Size != 0 || r.Part.ETag != "" || r.Part.Checksum != nil || !r.Part.ModTime.IsZero() {
		pr.Part = partToPB(r.Part)
	}
	if r.Upload.UploadID != "" || r.Upload.Bucket != "" || r.Upload.Key != "" {
		pr.Upload = uploadToPB(r.Upload)
	}
	return pr
}

func isZeroVersion(v storage.ObjectVersion) bool {
	return v.Bucket == "" && v.Key == "" && v.ID.IsZero() && !v.IsNull && !v.DeleteMarker && v.ModTime.IsZero() && v.Size == 0 && v.ETag == ""
}

func resultFromPB(p *regionpb.Result) storage.Result {
	r := storage.Result{Err: errorFromPB(p.GetError()), VersionID: p.GetVersionId()}
	if p.GetVersion() != nil {
		r.Version = versionFromPB(p.GetVersion())
	}
	if d := p.GetDelete(); d != nil {
		r.Delete = storage.DeleteResult{VersionID: d.GetVersionId(), DeleteMarker: d.GetDeleteMarker()}
	}
	if p.GetPart() != nil {
		r.Part = partFromPB(p.GetPart())
	}
	if p.GetUpload() != nil {
		r.Upload = uploadFromPB(p.GetUpload())
	}
	return r
}

func resultsToPB(rs []storage.Result) []*regionpb.Result {
	out := make([]*regionpb.Result, len(rs))
	for i, r := range rs {
		out[i] = resultToPB(r)
	}
	return out
}

func resultsFromPB(ps []*regionpb.Result) []storage.Result {
	out := make([]storage.Result, len(ps))
	for i, p := range ps {
		out[i] = resultFromPB(p)
	}
	return out
}
