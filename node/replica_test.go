package node

import (
	"context"
	"testing"
	"time"

	"github.com/pangea-s3/pangea/storage"
)

// TestReplicaSink_CommitsAReplica: a version shipped from another region,
// committed through the sink, is served by the member as a replica, and the same
// delivery again changes nothing.
func TestReplicaSink_CommitsAReplica(t *testing.T) {
	m := openTestMember(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.CreateBucket(ctx, "dst", m.Region(), "owner"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBucketVersioning(ctx, "dst", storage.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	sink := m.ReplicaSink()
	if sink.Region() != "us-east-1" || sink.InlineMax() != inlineMax || sink.NewBlobID() == sink.NewBlobID() {
		t.Fatalf("sink: region %q, inline max %d", sink.Region(), sink.InlineMax())
	}
	id := storage.VersionID{Time: uint64(time.Now().UnixMilli()) << 16, Region: storage.RegionCode("eu-west-1"), Seq: 7}
	cmd := &storage.ApplyReplicaCmd{Bucket: "dst", Key: "k", ID: id, Time: time.Now().UTC().Truncate(time.Millisecond),
		Size: 5, ETag: "5d41402abc4b2a76b9719d911017c592", Owner: "owner", Inline: []byte("hello")}
	for range 2 {
		res, err := sink.Commit(ctx, []storage.Command{cmd})
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("commit a replica: %v %+v", err, res)
		}
	}
	v, err := m.Object(ctx, "dst", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != id || v.ReplicationStatus != storage.ReplicationStatusReplica || v.Size != 5 {
		t.Fatalf("the member serves %+v, want the replica %v", v, id)
	}
	vs, err := m.ListObjectVersions(ctx, "dst", storage.ListVersionsInput{MaxKeys: 1000})
	if err != nil || len(vs.Versions) != 1 {
		t.Fatalf("versions after two deliveries: %d (%v), want 1", len(vs.Versions), err)
	}
}
