package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStore_Model applies random batches of commands to the Store and to the model
// (model_test.go) and compares every result and every read. Batches go through Apply
// or, as a raft log delivers them, through ApplyDeferred with growing indexes and a
// Flush now and then; reads in between must not see what is not flushed. The store is
// closed and reopened at random, and "crashes": its pending entries are lost and
// replayed from the log, which must give the same results and state. The commands are
// object writes and deletes (some of them conditional, some with a version ID minted
// earlier than the key's latest, as replication from another region delivers them),
// versioning changes, multipart uploads (with right and wrong part lists) and staged
// blobs. Reproduce a failure with -seed=N or PANGEA_SEED=N.
func TestStore_Model(t *testing.T) {
	seed := modelSeed(t)
	t.Logf("seed %d", seed)
	run := newModelRun(t, seed)
	steps := 1000
	if testing.Short() {
		steps = 300
	}
	for run.step = 0; run.step < steps; run.step++ {
		switch p := run.r.IntN(100); {
		case p < 45:
			run.writeBatch()
		case p < 53:
			run.flush("flush")
		case p < 55:
			run.reopen()
		case p < 57:
			run.crash()
		case p < 59:
			run.staleEntry()
		default:
			run.read()
		}
	}
	run.flush("final flush")
	run.checkState("end", run.m)
	run.reopen()
	// What the run covered, to see in -v output that the mix stays meaningful.
	for _, k := range slices.Sorted(maps.Keys(run.stats)) {
		t.Logf("%6d %s", run.stats[k], k)
	}
}

// logEntry is an entry given to ApplyDeferred and not flushed yet: what a replay
// after a crash applies again.
type logEntry struct {
	index   uint64
	cmds    []Command
	results []Result
}

// poolBody is a part-sized body (around MinPartSize, mostly zeros so that its chunks
// compress to almost nothing) with its chunks encoded once.
type poolBody struct {
	data   []byte
	etag   string
	chunks []PutChunkCmd // Blob and Time unset
}

type modelRun struct {
	t    *testing.T
	seed uint64
	r    *rand.Rand
	h    *harness
	path string
	ctx  context.Context
	step int
	what string

	m    *model     // every command applied so far, flushed or not
	seen *model     // what reads see: m as of the last commit
	pend []logEntry // entries applied with ApplyDeferred since the last Flush
	next uint64     // the next log index

	keys, prefixes []string
	pool           []poolBody
	replSeq        uint32      // Seq of IDs minted "in another region"
	uploads        int         // upload IDs minted
	finished       []uploadRef // uploads completed or aborted
	blobs          []BlobID    // every blob staged
	stats          map[string]int
}

func newModelRun(t *testing.T, seed uint64) *modelRun {
	path := filepath.Join(t.TempDir(), "store.db")
	run := &modelRun{
		t: t, seed: seed, path: path, ctx: context.Background(),
		r:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		h:        &harness{t: t, s: openTestStore(t, path)},
		m:        newModel(),
		keys:     []string{"a", "a/b", "a/c", "a/b/c", "b", "b\x00", "c/d/e", "c/x", "d", "e/"},
		prefixes: []string{"", "a", "a/", "c/", "x", "b"},
		stats:    map[string]int{},
	}
	run.h.createBucket("b")
	run.seen = run.m.clone()
	run.next = 1 + uint64(run.r.IntN(5))
	// Part-sized bodies: just under MinPartSize (too small for any part but the last),
	// exactly it, and over it.
	for i, size := range []int{MinPartSize - 1, MinPartSize, MinPartSize + 1, MinPartSize + ChunkSize/2 + 7} {
		data := make([]byte, size)
		for off := 0; off < size; off += 128 << 10 {
			copy(data[off:], randomBytes(seed+uint64(i)<<32+uint64(off), 64))
		}
		pb := poolBody{data: data, etag: md5hex(data)}
		for n, off := uint32(0), 0; off < size; n, off = n+1, off+ChunkSize {
			raw := data[off:min(off+ChunkSize, size)]
			enc, b := EncodeChunk(raw)
			pb.chunks = append(pb.chunks, PutChunkCmd{Index: n, Encoding: enc, RawSize: uint32(len(raw)), Data: b})
		}
		run.pool = append(run.pool, pb)
	}
	return run
}

func (run *modelRun) fatalf(format string, args ...any) {
	run.t.Helper()
	run.t.Fatalf("seed %d step %d %s: %s", run.seed, run.step, run.what, fmt.Sprintf(format, args...))
}

// --- Generating commands ------------------------------------------------------------

// newBody returns a body, its ETag and, for a pool body, its chunks (Blob and Time
// unset). Bodies are mostly small (inline); partSized draws often from the pool.
func (run *modelRun) newBody(partSized bool) ([]byte, string, []PutChunkCmd) {
	r := run.r
	n := r.IntN(100)
	var b []byte
	switch {
	case partSized && n < 40, !partSized && n < 4:
		p := run.pool[r.IntN(len(run.pool))]
		return p.data, p.etag, p.chunks
	case !partSized && n < 7: // over a chunk, incompressible
		b = randomBytes(r.Uint64(), ChunkSize+r.IntN(ChunkSize))
	case n < 20: // one chunk, or just inline
		b = randomBytes(r.Uint64(), InlineMax+r.IntN(4096)-r.IntN(2))
	default:
		b = randomBytes(r.Uint64(), r.IntN(64))
	}
	return b, md5hex(b), nil
}

// stage returns how a PutObject or PutPart references body, and the PutChunk commands
// that must come before it.
func (run *modelRun) stage(body []byte, chunks []PutChunkCmd) (BlobID, uint32, []byte, []modelCmd) {
	if len(body) <= InlineMax {
		return BlobID{}, 0, bytes.Clone(body), nil
	}
	blob := run.h.nextBlob()
	run.blobs = append(run.blobs, blob)
	at := run.h.now()
	if chunks == nil {
		for off := 0; off < len(body); off += ChunkSize {
			raw := body[off:min(off+ChunkSize, len(body))]
			enc, b := EncodeChunk(raw)
			chunks = append(chunks, PutChunkCmd{Index: uint32(len(chunks)), Encoding: enc, RawSize: uint32(len(raw)), Data: b})
		}
	}
	var cmds []modelCmd
	for _, c := range chunks {
		c.Blob, c.Time = blob, at
		cmds = append(cmds, modelCmd{cmd: c})
	}
	return blob, uint32(len(chunks)), nil, cmds
}

// versionID mints the ID of a new version or marker: mostly from the local clock
// (greater than every ID so far), else as if replicated from another region, with a
// time at or below that of one of the key's versions: the new entry is then not the
// latest, or only by its region code.
func (run *modelRun) versionID(key string) VersionID {
	r := run.r
	if r.IntN(100) >= 25 {
		return run.h.nextID()
	}
	run.replSeq++
	id := VersionID{Region: []uint32{3, 9}[r.IntN(2)], Seq: run.replSeq}
	if vs := run.m.keys[key]; len(vs) > 0 {
		id.Time = vs[r.IntN(len(vs))].id.Time - uint64(r.IntN(3))
	} else {
		id.Time = (1_700_000_000_000 + uint64(r.IntN(int(run.h.clock)+1))) << 16
	}
	return id
}

// existingID is the ID of one of the key's entries (the null version's included).
func (run *modelRun) existingID(key string) (VersionID, bool) {
	vs := run.m.keys[key]
	if len(vs) == 0 {
		return VersionID{}, false
	}
	return vs[run.r.IntN(len(vs))].id, true
}

func (run *modelRun) wrongETag() string { return md5hex(randomBytes(run.r.Uint64(), 16)) }

// conditions returns random WriteConditions for a write of key and what they name.
func (run *modelRun) conditions(key string) (WriteConditions, modelCond) {
	r := run.r
	switch r.IntN(10) {
	case 0, 1:
		return WriteConditions{IfNoneMatch: true}, modelCond{ifNoneMatch: true}
	case 2:
		return WriteConditions{IfMatch: "*"}, modelCond{ifMatch: true, any: true}
	case 3:
		return WriteConditions{IfNoneMatch: true, IfMatch: "*"}, modelCond{ifNoneMatch: true, ifMatch: true, any: true}
	}
	// An ETag: the current object's, another version's, or none of them.
	etag := run.wrongETag()
	vs := slices.DeleteFunc(slices.Clone(run.m.keys[key]), func(v modelVersion) bool { return v.marker })
	switch n := r.IntN(10); {
	case n < 5:
		if cur, ok := run.m.current(key); ok {
			etag = cur.etag
		}
	case n < 8 && len(vs) > 0:
		etag = vs[r.IntN(len(vs))].etag
	}
	wrong := run.wrongETag()
	c := modelCond{ifMatch: true, etags: []string{etag}}
	var list string
	switch r.IntN(5) {
	case 0:
		list = `"` + etag + `"`
	case 1:
		list = etag
	case 2:
		list = `W/"` + etag + `"`
	case 3:
		list, c.etags = `"`+wrong+`", "`+etag+`"`, []string{wrong, etag}
	default:
		list, c.etags = `"`+etag+`" ,`+wrong, []string{etag, wrong}
	}
	return WriteConditions{IfMatch: list}, c
}

// spellETag writes an ETag as a client may: quoted or not, in either case.
func (run *modelRun) spellETag(etag string) string {
	switch run.r.IntN(4) {
	case 0:
		return `"` + etag + `"`
	case 1:
		return strings.ToUpper(etag)
	}
	return etag
}

// pickUpload names an upload for PutPart, CompleteUpload or AbortUpload: mostly one
// in progress (withParts: one with parts, if any), else a finished one, an ID under
// another key, or one never created.
func (run *modelRun) pickUpload(key string, withParts bool) uploadRef {
	r := run.r
	open := run.m.sortedUploads()
	if withParts {
		if some := slices.DeleteFunc(slices.Clone(open), func(u uploadRef) bool { return len(run.m.uploads[u].parts) == 0 }); len(some) > 0 {
			open = some
		}
	}
	n := r.IntN(100)
	switch {
	case len(open) > 0 && n < 85:
		return open[r.IntN(len(open))]
	case len(open) > 0 && n < 90:
		return uploadRef{key, open[r.IntN(len(open))].id}
	case len(run.finished) > 0 && n < 95:
		return run.finished[r.IntN(len(run.finished))]
	}
	return uploadRef{key, "never-created"}
}

// genCommand returns one random command of bucket "b", after the PutChunk commands
// that stage its body.
func (run *modelRun) genCommand() []modelCmd {
	r, h, m := run.r, run.h, run.m
	key := run.keys[r.IntN(len(run.keys))]
	p := r.IntN(100)
	if p >= 45 && p < 52 && len(m.uploads) >= 8 {
		p = 80 // enough uploads in progress: complete one
	}
	if p >= 43 && p < 45 && run.step < 150 {
		p = 0 // the bucket stays unversioned for a while
	}
	switch {
	case p < 28:
		body, etag, chunks := run.newBody(false)
		blob, n, inline, cmds := run.stage(body, chunks)
		c := PutObjectCmd{
			Bucket: "b", Key: key, ID: run.versionID(key), Time: h.now(), Size: int64(len(body)), ETag: etag,
			Owner: "pangea", Blob: blob, Chunks: n, Inline: inline,
		}
		mc := modelCmd{body: body}
		if r.IntN(100) < 30 {
			c.WriteConditions, mc.cond = run.conditions(key)
		}
		if id, ok := run.existingID(key); ok && r.IntN(100) < 3 {
			c.ID = id // collides: refused
		}
		mc.cmd = c
		return append(cmds, mc)
	case p < 37:
		c := DeleteObjectCmd{Bucket: "b", Key: key, MarkerID: run.versionID(key), Time: h.now(), Owner: "pangea"}
		if id, ok := run.existingID(key); ok && r.IntN(100) < 3 {
			c.MarkerID = id
		}
		return []modelCmd{{cmd: c}}
	case p < 43:
		return []modelCmd{{cmd: DeleteObjectCmd{Bucket: "b", Key: key, VersionID: run.versionRef(m, key), Time: h.now(), Owner: "pangea"}}}
	case p < 45:
		st := VersioningEnabled
		if r.IntN(2) == 0 {
			st = VersioningSuspended
		}
		return []modelCmd{{cmd: SetVersioningCmd{Bucket: "b", State: st}}}
	case p < 52:
		run.uploads++
		ref := uploadRef{key, fmt.Sprintf("up%d", run.uploads)}
		if open := m.sortedUploads(); len(open) > 0 {
			switch r.IntN(10) {
			case 0:
				ref = open[r.IntN(len(open))] // exists: refused
			case 1:
				ref.id = open[r.IntN(len(open))].id // the same ID, most likely under another key
			}
		}
		return []modelCmd{{cmd: CreateUploadCmd{Bucket: "b", Key: ref.key, UploadID: ref.id, Time: h.now(), Owner: "pangea"}}}
	case p < 74:
		ref := run.pickUpload(key, false)
		num := 1 + r.IntN(4)
		switch r.IntN(20) {
		case 0:
			num = 0
		case 1:
			num = MaxPartNumber + 1
		case 2:
			num = MaxPartNumber
		}
		body, etag, chunks := run.newBody(true)
		blob, n, inline, cmds := run.stage(body, chunks)
		c := PutPartCmd{
			Bucket: "b", Key: ref.key, UploadID: ref.id, Number: num, Size: int64(len(body)), ETag: etag,
			Time: h.now(), Blob: blob, Chunks: n, Inline: inline,
		}
		return append(cmds, modelCmd{cmd: c, body: body})
	case p < 87:
		ref := run.pickUpload(key, r.IntN(5) != 0)
		c := CompleteUploadCmd{Bucket: "b", Key: ref.key, UploadID: ref.id, Parts: run.partList(ref), ID: run.versionID(ref.key), Time: h.now()}
		var mc modelCmd
		if r.IntN(100) < 30 {
			c.WriteConditions, mc.cond = run.conditions(ref.key)
		}
		mc.cmd = c
		return []modelCmd{mc}
	case p < 90:
		ref := run.pickUpload(key, false)
		return []modelCmd{{cmd: AbortUploadCmd{Bucket: "b", Key: ref.key, UploadID: ref.id}}}
	case p < 99:
		staged := slices.SortedFunc(maps.Keys(m.staged), func(a, b BlobID) int { return bytes.Compare(a[:], b[:]) })
		var blob BlobID
		switch {
		case len(staged) > 0 && r.IntN(4) != 0:
			blob = staged[r.IntN(len(staged))]
		case len(run.blobs) > 0 && r.IntN(2) == 0:
			blob = run.blobs[r.IntN(len(run.blobs))] // most likely referenced: left alone
		default:
			blob = BlobID{0xEE, byte(r.IntN(256))} // never staged
		}
		return []modelCmd{{cmd: DiscardBlobCmd{Blob: blob}}}
	}
	return run.genCommandNoop()
}

// genCommandNoop is a command that changes nothing: versioning set to what it is.
func (run *modelRun) genCommandNoop() []modelCmd {
	st := run.m.state
	if st == Unversioned {
		st = VersioningSuspended
		if run.r.IntN(2) == 0 {
			st = VersioningEnabled
		}
	}
	return []modelCmd{{cmd: SetVersioningCmd{Bucket: "b", State: st}}}
}

// partList is the part list of a CompleteUpload: a likely valid one (the parts big
// enough to be followed, then any one part) or a random subset, in order, with the
// right ETags spelled in any way; then, now and then, one mistake.
func (run *modelRun) partList(ref uploadRef) []CompletedPart {
	r := run.r
	var list []CompletedPart
	if u := run.m.uploads[ref]; u != nil {
		nums := slices.Sorted(maps.Keys(u.parts))
		likely := r.IntN(2) == 0
		for i, n := range nums {
			p := u.parts[n]
			if likely && len(p.piece.data) < MinPartSize && i != len(nums)-1 {
				continue
			}
			if !likely && r.IntN(10) < 4 {
				continue
			}
			list = append(list, CompletedPart{Number: n, ETag: run.spellETag(p.etag)})
		}
		if len(list) == 0 && len(nums) > 0 && r.IntN(2) == 0 {
			n := nums[r.IntN(len(nums))]
			list = []CompletedPart{{Number: n, ETag: u.parts[n].etag}}
		}
	} else {
		list = []CompletedPart{{Number: 1, ETag: run.wrongETag()}}
	}
	switch n := r.IntN(100); {
	case n < 4:
		list = nil
	case n < 9 && len(list) >= 2:
		i := r.IntN(len(list) - 1)
		list[i], list[i+1] = list[i+1], list[i]
	case n < 12 && len(list) >= 1:
		i := r.IntN(len(list))
		list = slices.Insert(list, i, list[i]) // listed twice
	case n < 17:
		i := slices.IndexFunc(list, func(p CompletedPart) bool { return p.Number > 9999 })
		if i < 0 {
			i = len(list)
		}
		list = slices.Insert(list, i, CompletedPart{Number: 9999, ETag: run.wrongETag()}) // never uploaded
	case n < 24 && len(list) >= 1:
		list[r.IntN(len(list))].ETag = run.spellETag(run.wrongETag())
	}
	return list
}

// versionRef is a version reference for a read or a delete: mostly one of the key's
// versions, sometimes "null", an ID that does not exist, the minted ID of the null
// version (which only "null" reaches), or not an ID at all.
func (run *modelRun) versionRef(mm *model, key string) string {
	r := run.r
	vs := mm.keys[key]
	switch n := r.IntN(20); {
	case n == 0:
		return "null"
	case n == 1:
		return run.h.nextID().String()
	case n == 2:
		return "not-a-version-id"
	case n == 3:
		for _, v := range vs {
			if v.null {
				return v.id.String()
			}
		}
	case len(vs) > 0:
		return vidText(vs[r.IntN(len(vs))])
	}
	return "null"
}

func describe(c Command) string {
	switch c := c.(type) {
	case PutChunkCmd:
		return fmt.Sprintf("PutChunk %x/%d (%d bytes)", c.Blob[8:], c.Index, c.RawSize)
	case PutObjectCmd:
		return fmt.Sprintf("PutObject %q id %v %+v size %d blob %x cond %+v", c.Key, c.ID, c.ID, c.Size, c.Blob[8:], c.WriteConditions)
	case PutPartCmd:
		return fmt.Sprintf("PutPart %q %q #%d size %d", c.Key, c.UploadID, c.Number, c.Size)
	case CompleteUploadCmd:
		return fmt.Sprintf("CompleteUpload %q %q parts %+v id %v %+v cond %+v", c.Key, c.UploadID, c.Parts, c.ID, c.ID, c.WriteConditions)
	case DeleteObjectCmd:
		return fmt.Sprintf("DeleteObject %q version %q marker %v %+v", c.Key, c.VersionID, c.MarkerID, c.MarkerID)
	}
	return fmt.Sprintf("%T %+v", c, c)
}

// --- Applying -----------------------------------------------------------------------

// writeBatch applies a batch of random commands through Apply or ApplyDeferred.
func (run *modelRun) writeBatch() {
	r, s := run.r, run.h.s
	viaLog := r.IntN(2) == 0
	if !viaLog && len(run.pend) > 0 {
		// Apply would wait for the pending transaction's write lock: a store is driven
		// either by the log or by Apply, and here the log commits first.
		run.flush("flush before Apply")
	}
	n := 1 + r.IntN(4)
	if viaLog && r.IntN(20) == 0 {
		n = 0 // a log entry without commands still advances the index
	}
	var cmds []Command
	var wants []outcome
	for range n {
		for _, mc := range run.genCommand() {
			cmds = append(cmds, mc.cmd)
			wants = append(wants, run.m.apply(mc))
			switch c := mc.cmd.(type) {
			case CompleteUploadCmd:
				run.noteFinished(uploadRef{c.Key, c.UploadID})
			case AbortUploadCmd:
				run.noteFinished(uploadRef{c.Key, c.UploadID})
			}
		}
	}
	if viaLog {
		idx := run.next
		run.next += 1 + uint64(r.IntN(3))
		run.what = fmt.Sprintf("ApplyDeferred(%d, %d commands)", idx, len(cmds))
		res, err := s.ApplyDeferred(idx, cmds)
		if err != nil {
			run.fatalf("%v", err)
		}
		run.compare(cmds, res, wants)
		run.stats["~ ApplyDeferred entries"]++
		run.m.applied = idx
		run.pend = append(run.pend, logEntry{index: idx, cmds: cmds, results: res})
		return
	}
	run.what = fmt.Sprintf("Apply(%d commands)", len(cmds))
	run.compare(cmds, s.Apply(cmds), wants)
	run.stats["~ Apply batches"]++
	run.seen = run.m.clone()
}

func (run *modelRun) noteFinished(ref uploadRef) {
	if run.m.uploads[ref] == nil && !slices.Contains(run.finished, ref) {
		run.finished = append(run.finished, ref)
	}
}

func (run *modelRun) compare(cmds []Command, res []Result, wants []outcome) {
	run.t.Helper()
	if len(res) != len(cmds) {
		run.fatalf("%d results for %d commands", len(res), len(cmds))
	}
	for i, c := range cmds {
		got := outcomeOf(res[i])
		if got != wants[i] {
			run.fatalf("command %d %s:\n got %+v (%v)\nwant %+v", i, describe(c), got, res[i].Err, wants[i])
		}
		k := c.Op().String()
		if c, ok := c.(DeleteObjectCmd); ok && c.VersionID != "" {
			k += " by version"
		}
		if c, ok := c.(CompleteUploadCmd); ok && got.Err == "" {
			if len(c.Parts) > 1 {
				k += " of 2+ parts"
			} else {
				k += " of 1 part"
			}
		}
		switch {
		case got.Err != "":
			k += " " + got.Err
		case got.VersionID != "" && !got.Latest:
			k += " ok, not latest"
		case got.VersionID != "":
			k += " ok, latest"
		default:
			k += " ok"
		}
		if c, ok := c.(PutObjectCmd); ok && !c.WriteConditions.IsZero() {
			k += " (conditional)"
		}
		if c, ok := c.(CompleteUploadCmd); ok && !c.WriteConditions.IsZero() {
			k += " (conditional)"
		}
		run.stats[k]++
	}
}

// flush commits the pending entries: Flush reports the last one's index, and reads
// see them from then on.
func (run *modelRun) flush(what string) {
	run.t.Helper()
	run.what = what
	var want uint64
	if len(run.pend) > 0 {
		want = run.pend[len(run.pend)-1].index
	}
	idx, err := run.h.s.Flush()
	if err != nil || idx != want {
		run.fatalf("Flush = %d, %v; want %d", idx, err, want)
	}
	run.pend = nil
	run.seen = run.m.clone()
	run.checkMeta(run.seen)
}

// reopen closes the store (which commits what is pending) and opens the file again.
func (run *modelRun) reopen() {
	run.what = fmt.Sprintf("close and reopen (%d entries pending)", len(run.pend))
	if err := run.h.s.Close(); err != nil {
		run.fatalf("Close: %v", err)
	}
	run.stats["~ reopens"]++
	run.stats["~ entries committed by Close"] += len(run.pend)
	run.pend = nil
	run.seen = run.m.clone()
	run.h.s = openTestStore(run.t, run.path)
	run.checkState("after reopen", run.seen)
}

// crash loses the pending entries, reopens the store, and replays them as a node
// replays its log from the store's applied index. The loss goes through the store's
// own path for it: a replayed index while entries are pending makes ApplyDeferred
// roll them back (ErrPendingLost from then on), and Close then commits nothing.
func (run *modelRun) crash() {
	s := run.h.s
	lost := run.pend
	run.what = fmt.Sprintf("crash with %d entries pending", len(lost))
	if len(lost) > 0 {
		last := lost[len(lost)-1].index
		if _, err := s.ApplyDeferred(last, nil); !errors.Is(err, ErrAlreadyApplied) {
			run.fatalf("ApplyDeferred(%d) again: %v, want ErrAlreadyApplied", last, err)
		}
		if idx, err := s.Flush(); idx != 0 || !errors.Is(err, ErrPendingLost) {
			run.fatalf("Flush after the loss = %d, %v; want ErrPendingLost", idx, err)
		}
		if _, err := s.ApplyDeferred(run.next, nil); !errors.Is(err, ErrPendingLost) {
			run.fatalf("ApplyDeferred after the loss: %v, want ErrPendingLost", err)
		}
	}
	if err := s.Close(); err != nil {
		run.fatalf("Close: %v", err)
	}
	run.pend = nil
	run.h.s = openTestStore(run.t, run.path)
	// The file holds the state of the last commit, and says which index it reached.
	run.checkState("after the crash", run.seen)
	if len(lost) == 0 {
		return
	}
	run.what = "replay"
	run.stats["~ crashes losing entries"]++
	run.stats["~ entries lost and replayed"] += len(lost)
	for _, e := range lost {
		res, err := run.h.s.ApplyDeferred(e.index, e.cmds)
		if err != nil {
			run.fatalf("replay of %d: %v", e.index, err)
		}
		for i := range res {
			if !sameResult(res[i], e.results[i]) {
				run.fatalf("replay of %d, command %d %s:\n got %+v\nwant %+v", e.index, i, describe(e.cmds[i]), res[i], e.results[i])
			}
		}
		run.pend = append(run.pend, logEntry{index: e.index, cmds: e.cmds, results: res})
	}
	run.flush("flush after replay")
	run.checkState("after replay", run.m)
}

// sameResult: the same error text and the same values.
func sameResult(a, b Result) bool {
	if fmt.Sprint(a.Err) != fmt.Sprint(b.Err) {
		return false
	}
	a.Err, b.Err = nil, nil
	return reflect.DeepEqual(a, b)
}

// staleEntry gives ApplyDeferred an index already applied, with nothing pending: it
// is refused and nothing is lost.
func (run *modelRun) staleEntry() {
	if len(run.pend) > 0 || run.seen.applied == 0 {
		run.read()
		return
	}
	idx := run.seen.applied - uint64(run.r.IntN(2))
	run.what = fmt.Sprintf("stale entry %d", idx)
	key := run.keys[run.r.IntN(len(run.keys))]
	cmds := []Command{
		DeleteObjectCmd{Bucket: "b", Key: key, MarkerID: VersionID{Time: 1 << 62, Region: 5, Seq: 1}, Time: run.h.now()},
		SetVersioningCmd{Bucket: "b", State: VersioningSuspended},
	}
	if _, err := run.h.s.ApplyDeferred(idx, cmds); !errors.Is(err, ErrAlreadyApplied) || errors.Is(err, ErrPendingLost) {
		run.fatalf("err %v, want ErrAlreadyApplied alone", err)
	}
	run.stats["~ stale entries"]++
	run.flush("flush after a stale entry")
}

// --- Reading ------------------------------------------------------------------------

// read compares one random read with the model as of the last commit: entries not
// flushed yet must not show.
func (run *modelRun) read() {
	r, mm := run.r, run.seen
	key := run.keys[r.IntN(len(run.keys))]
	prefix, delim := run.prefixes[r.IntN(len(run.prefixes))], []string{"", "/"}[r.IntN(2)]
	size := 1 + r.IntN(5)
	switch p := r.IntN(100); {
	case p < 40:
		vid := ""
		if r.IntN(2) == 0 {
			vid = run.versionRef(mm, key)
		}
		run.get(mm, key, vid, false)
	case p < 55:
		run.listObjects(mm, prefix, delim, size)
	case p < 70:
		run.listVersions(mm, prefix, delim, size)
	case p < 82:
		run.listUploads(mm, prefix, delim, size)
	case p < 94:
		run.listParts(mm, run.pickUpload(key, false), 1+r.IntN(3))
	default:
		run.checkMeta(mm)
	}
}

// get compares Object (and, now and then or with wholeBody, the body) with the model.
func (run *modelRun) get(mm *model, key, vid string, wholeBody bool) {
	run.what = fmt.Sprintf("get %q %q", key, vid)
	got, err := run.h.get("b", key, vid)
	want, werr := mm.find(key, vid)
	if werr == nil && want.marker {
		werr = ErrDeleteMarker // returned with the marker
	}
	wo := rejected(werr)
	if werr == nil || want.marker {
		wo = mm.versionOutcome(key, want)
		wo.Err = errName(werr)
	}
	if g := outcomeOf(Result{Err: err, Version: got}); g != wo {
		run.fatalf("\n got %+v\nwant %+v", g, wo)
	}
	if err != nil || want.size() == 0 {
		return
	}
	size := want.size()
	if wholeBody || size <= 2*ChunkSize || run.r.IntN(4) == 0 {
		run.compareBody(got, want, 0, size)
	}
	// A range, which may span parts of a multipart object.
	off := run.r.Int64N(size)
	run.compareBody(got, want, off, 1+run.r.Int64N(size-off))
}

// compareBody compares n bytes at off of the stored body of v with the model's,
// streaming both.
func (run *modelRun) compareBody(v ObjectVersion, want modelVersion, off, n int64) {
	rc, err := run.h.s.OpenObject(run.ctx, v, off, n)
	if err != nil {
		run.fatalf("OpenObject(%d, %d): %v", off, n, err)
	}
	defer rc.Close()
	// The model's bytes of the range: the overlap of each piece with it.
	var pieces []io.Reader
	start := int64(0)
	for _, p := range want.body {
		end := start + int64(len(p.data))
		if lo, hi := max(start, off), min(end, off+n); lo < hi {
			pieces = append(pieces, bytes.NewReader(p.data[lo-start:hi-start]))
		}
		start = end
	}
	exp := io.MultiReader(pieces...)
	var a, b [64 << 10]byte
	for done := int64(0); ; {
		na, ea := io.ReadFull(rc, a[:])
		nb, _ := io.ReadFull(exp, b[:])
		if ea != nil && ea != io.EOF && ea != io.ErrUnexpectedEOF {
			run.fatalf("read %d+%d: %v", off, n, ea)
		}
		if !bytes.Equal(a[:na], b[:nb]) {
			run.fatalf("range %d+%d of %d bytes differs after %d bytes", off, n, want.size(), done)
		}
		if na < len(a) {
			return
		}
		done += int64(na)
	}
}

func (run *modelRun) listObjects(mm *model, prefix, delim string, size int) {
	run.what = fmt.Sprintf("list %q %q by %d", prefix, delim, size)
	var got []string
	in := ListObjectsInput{Prefix: prefix, Delimiter: delim, MaxKeys: size}
	for pages := 0; ; pages++ {
		res, err := run.h.s.ListObjects(run.ctx, "b", in)
		if err != nil || pages > 50 {
			run.fatalf("%v (page %d)", err, pages)
		}
		var page []string
		for _, v := range res.Objects {
			page = append(page, "K:"+v.Key)
		}
		for _, cp := range res.CommonPrefixes {
			page = append(page, "P:"+cp)
		}
		// Objects and prefixes of one page interleave in key order.
		slices.SortFunc(page, func(a, b string) int { return strings.Compare(a[2:], b[2:]) })
		got = append(got, page...)
		if !res.IsTruncated {
			break
		}
		in.Marker = res.NextMarker
	}
	if want := mm.listObjects(prefix, delim); !slices.Equal(got, want) {
		run.fatalf("\n got %q\nwant %q", got, want)
	}
}

func (run *modelRun) listVersions(mm *model, prefix, delim string, size int) {
	run.what = fmt.Sprintf("list versions %q %q by %d", prefix, delim, size)
	var got []string
	in := ListVersionsInput{Prefix: prefix, Delimiter: delim, MaxKeys: size}
	for pages := 0; ; pages++ {
		res, err := run.h.s.ListObjectVersions(run.ctx, "b", in)
		if err != nil || pages > 1000 {
			run.fatalf("%v (page %d)", err, pages)
		}
		var page []string
		for _, v := range res.Versions {
			page = append(page, fmt.Sprintf("V:%s#%s#%v#%v", v.Key, v.VersionIDText(), v.DeleteMarker, v.IsLatest))
		}
		for _, cp := range res.CommonPrefixes {
			page = append(page, "P:"+cp)
		}
		slices.SortStableFunc(page, func(a, b string) int { return strings.Compare(entryKey(a), entryKey(b)) })
		got = append(got, page...)
		if !res.IsTruncated {
			break
		}
		in.KeyMarker, in.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
	if want := mm.listVersions(prefix, delim); !slices.Equal(got, want) {
		run.fatalf("\n got %q\nwant %q", got, want)
	}
}

func (run *modelRun) listUploads(mm *model, prefix, delim string, size int) {
	run.what = fmt.Sprintf("list uploads %q %q by %d", prefix, delim, size)
	var got []string
	in := ListUploadsInput{Prefix: prefix, Delimiter: delim, MaxUploads: size}
	for pages := 0; ; pages++ {
		res, err := run.h.s.ListMultipartUploads(run.ctx, "b", in)
		if err != nil || pages > 200 {
			run.fatalf("%v (page %d)", err, pages)
		}
		var page []string
		for _, u := range res.Uploads {
			page = append(page, "U:"+u.Key+"#"+u.UploadID)
		}
		for _, cp := range res.CommonPrefixes {
			page = append(page, "P:"+cp)
		}
		slices.SortStableFunc(page, func(a, b string) int { return strings.Compare(entryKey(a), entryKey(b)) })
		got = append(got, page...)
		if !res.IsTruncated {
			break
		}
		in.KeyMarker, in.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	if want := mm.listUploads(prefix, delim); !slices.Equal(got, want) {
		run.fatalf("\n got %q\nwant %q", got, want)
	}
}

func (run *modelRun) listParts(mm *model, ref uploadRef, size int) {
	run.what = fmt.Sprintf("list parts of %q %q by %d", ref.key, ref.id, size)
	var got []string
	marker := 0
	for pages := 0; ; pages++ {
		res, err := run.h.s.ListParts(run.ctx, "b", ref.key, ref.id, marker, size)
		if mm.uploads[ref] == nil {
			if !errors.Is(err, ErrNoSuchUpload) {
				run.fatalf("err %v, want ErrNoSuchUpload", err)
			}
			return
		}
		if err != nil || pages > 50 {
			run.fatalf("%v (page %d)", err, pages)
		}
		for _, p := range res.Parts {
			got = append(got, fmt.Sprintf("%d#%d#%s", p.Number, p.Size, p.ETag))
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	if want := mm.listParts(ref); !slices.Equal(got, want) {
		run.fatalf("\n got %q\nwant %q", got, want)
	}
}

// checkMeta compares the bucket's versioning, the applied index and maxhlc.
func (run *modelRun) checkMeta(mm *model) {
	s := run.h.s
	info, err := s.Bucket(run.ctx, "b")
	if err != nil || info.Versioning != mm.state {
		run.fatalf("versioning %v, %v; want %v", info.Versioning, err, mm.state)
	}
	if got, err := s.AppliedIndex(); err != nil || got != mm.applied {
		run.fatalf("AppliedIndex = %d, %v; want %d", got, err, mm.applied)
	}
	if got, err := s.MaxHLC(); err != nil || got != mm.maxHLC {
		run.fatalf("MaxHLC = %d, %v; want %d", got, err, mm.maxHLC)
	}
}

// checkState compares everything the store shows with mm: every version and its
// body, every upload and part, the staged blobs, and that no chunk is left over.
func (run *modelRun) checkState(what string, mm *model) {
	run.t.Helper()
	run.what = what
	run.checkMeta(mm)
	run.listVersions(mm, "", "", 1000)
	run.listObjects(mm, "", "", 1000)
	run.listUploads(mm, "", "", 1000)
	for _, key := range run.keys {
		run.get(mm, key, "", false)
		for _, v := range mm.keys[key] {
			run.get(mm, key, vidText(v), true)
		}
	}
	for _, ref := range mm.sortedUploads() {
		run.listParts(mm, ref, 1000)
	}
	run.what = what
	staged, err := run.h.s.StagedBlobs(run.ctx, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		run.fatalf("StagedBlobs: %v", err)
	}
	cmpBlob := func(a, b BlobID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(staged, cmpBlob)
	if want := slices.SortedFunc(maps.Keys(mm.staged), cmpBlob); !slices.Equal(staged, want) {
		run.fatalf("staged blobs %x, want %x", staged, want)
	}
	if got, want := countChunks(run.t, run.h.s), mm.chunkCount(); got != want {
		run.fatalf("%d chunks stored, %d referenced or staged", got, want)
	}
}
