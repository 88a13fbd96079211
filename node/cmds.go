package node

import (
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// This file is the only place that builds storage commands, so every decided value
// (IDs, times, blob references) is visible in one screen.

func cmdCreateBucket(name, region, owner string, t time.Time) storage.Command {
	return storage.CreateBucketCmd{Name: name, Region: region, Owner: owner, Time: t}
}

func cmdDeleteBucket(name string) storage.Command {
	return storage.DeleteBucketCmd{Name: name}
}

func cmdSetVersioning(bucket string, state storage.VersioningState) storage.Command {
	return storage.SetVersioningCmd{Bucket: bucket, State: state}
}

func cmdPutBucketConfig(bucket string, kind storage.ConfigKind, data []byte) storage.Command {
	return storage.PutBucketConfigCmd{Bucket: bucket, Kind: kind, Data: data}
}

func cmdPutChunk(blob storage.BlobID, index uint32, enc storage.ChunkEncoding, rawSize int, data []byte, t time.Time) storage.Command {
	return storage.PutChunkCmd{
		Blob: blob, Index: index, Encoding: enc, RawSize: uint32(rawSize), Data: data, Time: t,
	}
}

func cmdDiscardBlob(blob storage.BlobID) storage.Command {
	return storage.DiscardBlobCmd{Blob: blob}
}

func cmdPutObject(in storage.PutObjectInput, id storage.VersionID, t time.Time, b stagedBody) storage.Command {
	c := storage.PutObjectCmd{
		Bucket: in.Bucket, Key: in.Key, ID: id, Time: t,
		Size: b.size, ETag: b.etag, Meta: in.Meta, Checksum: b.checksum, Owner: in.Owner,
		Inline: b.inline, WriteConditions: in.WriteConditions,
	}
	if b.hasBlob {
		c.Blob, c.Chunks = b.blob, b.chunks
	}
	return c
}

func cmdDeleteObject(bucket, key, versionID, owner string, marker storage.VersionID, t time.Time) storage.Command {
	return storage.DeleteObjectCmd{
		Bucket: bucket, Key: key, VersionID: versionID, MarkerID: marker, Time: t, Owner: owner,
	}
}

func cmdPutObjectTagging(bucket, key, versionID string, tags []storage.Tag) storage.Command {
	return storage.PutObjectTaggingCmd{
		Bucket: bucket, Key: key, VersionID: versionID, Tags: tags,
	}
}

func cmdCreateUpload(bucket, key, uploadID string, t time.Time, meta storage.ObjectMeta, alg, owner string) storage.Command {
	return storage.CreateUploadCmd{
		Bucket: bucket, Key: key, UploadID: uploadID, Time: t, Meta: meta, ChecksumAlgorithm: alg, Owner: owner,
	}
}

func cmdPutPart(in storage.UploadPartInput, t time.Time, b stagedBody) storage.Command {
	c := storage.PutPartCmd{
		Bucket: in.Bucket, Key: in.Key, UploadID: in.UploadID, Number: in.PartNumber,
		Size: b.size, ETag: b.etag, Checksum: b.checksum, Time: t, Inline: b.inline,
	}
	if b.hasBlob {
		c.Blob, c.Chunks = b.blob, b.chunks
	}
	return c
}

func cmdCompleteUpload(bucket, key, uploadID string, parts []storage.CompletedPart, cond storage.WriteConditions, id storage.VersionID, t time.Time) storage.Command {
	return storage.CompleteUploadCmd{
		Bucket: bucket, Key: key, UploadID: uploadID, Parts: parts, ID: id, Time: t, WriteConditions: cond,
	}
}

func cmdAbortUpload(bucket, key, uploadID string) storage.Command {
	return storage.AbortUploadCmd{Bucket: bucket, Key: key, UploadID: uploadID}
}

func cmdReserveBucket(name, region, owner string) storage.Command {
	return storage.ReserveBucketCmd{Bucket: name, Region: region, Owner: owner} // At: the leader's clock
}

func cmdReleaseBucket(name, region string, createdBefore time.Time) storage.Command {
	return storage.ReleaseBucketCmd{Bucket: name, Region: region, CreatedBefore: createdBefore}
}

// payloadSize approximates the bytes a command carries, for batch bounds.
func payloadSize(cmds []storage.Command) int {
	n := 0
	for _, c := range cmds {
		n += 128 + c.PayloadSize()
	}
	return n
}
