package storage

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file is the reference model of TestStore_Model (model_run_test.go drives it):
// one bucket's state in the plainest form, and the rules every command follows,
// written from the S3 semantics and SCHEMA.md rather than from the store's code.

var seedFlag = flag.Uint64("seed", 0, "seed for TestStore_Model (0: PANGEA_SEED or time-based)")

func modelSeed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("PANGEA_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PANGEA_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// modelPiece is a stretch of body bytes with one owner: a whole PUT body, or one part
// (which a completed upload hands over to its object). data is shared, never modified.
type modelPiece struct {
	data []byte
}

// chunks is how many chunk records hold the piece: none when it is small enough to
// live in its record, else one per started ChunkSize.
func (p modelPiece) chunks() int {
	if len(p.data) <= InlineMax {
		return 0
	}
	return (len(p.data) + ChunkSize - 1) / ChunkSize
}

// modelVersion is one version (or delete marker) of a key.
type modelVersion struct {
	id        VersionID
	null      bool
	marker    bool
	etag      string
	body      []modelPiece
	multipart bool // PartSizes are the pieces' sizes
}

func (v modelVersion) size() int64 {
	var n int64
	for _, p := range v.body {
		n += int64(len(p.data))
	}
	return n
}

func (v modelVersion) bytes() []byte {
	var b []byte
	for _, p := range v.body {
		b = append(b, p.data...)
	}
	return b
}

func (v modelVersion) partSizes() []int64 {
	if !v.multipart {
		return nil
	}
	var out []int64
	for _, p := range v.body {
		out = append(out, int64(len(p.data)))
	}
	return out
}

func vidText(v modelVersion) string {
	if v.null {
		return "null"
	}
	return v.id.String()
}

// modelPart is an uploaded part; modelUpload an upload in progress.
type modelPart struct {
	piece modelPiece
	etag  string
}

type uploadRef struct{ key, id string }

type modelUpload struct {
	parts map[int]modelPart
}

// model is one bucket (plus the store-wide staged blobs, applied index and maxhlc).
type model struct {
	state   VersioningState
	keys    map[string][]modelVersion // newest (greatest ID) first
	uploads map[uploadRef]*modelUpload
	staged  map[BlobID]int // staged blob -> chunks written
	applied uint64         // last ApplyDeferred index
	maxHLC  uint64         // greatest version ID time of every command applied
}

func newModel() *model {
	return &model{keys: map[string][]modelVersion{}, uploads: map[uploadRef]*modelUpload{}, staged: map[BlobID]int{}}
}

// clone copies the model; pieces are shared (never modified).
func (m *model) clone() *model {
	c := *m
	c.keys = make(map[string][]modelVersion, len(m.keys))
	for k, vs := range m.keys {
		c.keys[k] = slices.Clone(vs)
	}
	c.uploads = make(map[uploadRef]*modelUpload, len(m.uploads))
	for k, u := range m.uploads {
		c.uploads[k] = &modelUpload{parts: maps.Clone(u.parts)}
	}
	c.staged = maps.Clone(m.staged)
	return &c
}

// latest is the key's version with the greatest ID, marker or not, whatever the
// order the versions arrived in.
func (m *model) latest(key string) (modelVersion, bool) {
	vs := m.keys[key]
	if len(vs) == 0 {
		return modelVersion{}, false
	}
	return vs[0], true
}

// current is the key's latest version unless that is a delete marker.
func (m *model) current(key string) (modelVersion, bool) {
	v, ok := m.latest(key)
	if !ok || v.marker {
		return modelVersion{}, false
	}
	return v, true
}

func (m *model) isLatest(key string, id VersionID) bool {
	v, ok := m.latest(key)
	return ok && v.id == id
}

// hasID reports whether the key holds an entry with this ID (the null version's
// minted ID included): a new version may not reuse it.
func (m *model) hasID(key string, id VersionID) bool {
	return slices.ContainsFunc(m.keys[key], func(v modelVersion) bool { return v.id == id })
}

func (m *model) removeNull(key string) {
	m.keys[key] = slices.DeleteFunc(m.keys[key], func(v modelVersion) bool { return v.null })
	if len(m.keys[key]) == 0 {
		delete(m.keys, key)
	}
}

// add inserts v in ID order: the greatest ID first.
func (m *model) add(key string, v modelVersion) {
	vs := append(m.keys[key], v)
	slices.SortFunc(vs, func(a, b modelVersion) int { return b.id.Compare(a.id) })
	m.keys[key] = vs
}

// write stores v as the key's newest write: unless versioning is enabled it is the
// null version, replacing the previous null version wherever that sorts.
func (m *model) write(key string, v modelVersion) {
	v.null = m.state != VersioningEnabled
	if v.null {
		m.removeNull(key)
	}
	m.add(key, v)
}

// find resolves a version reference as S3 does: "" the latest, "null" the null
// version (never reachable by its minted ID), else a version ID's text.
func (m *model) find(key, vid string) (modelVersion, error) {
	vs := m.keys[key]
	switch vid {
	case "":
		if len(vs) == 0 {
			return modelVersion{}, ErrNoSuchKey
		}
		return vs[0], nil
	case "null":
		for _, v := range vs {
			if v.null {
				return v, nil
			}
		}
		return modelVersion{}, ErrNoSuchVersion
	}
	if _, err := ParseVersionID(vid); err != nil {
		return modelVersion{}, ErrInvalidVersionID
	}
	for _, v := range vs {
		if !v.null && v.id.String() == vid {
			return v, nil
		}
	}
	return modelVersion{}, ErrNoSuchVersion
}

func (m *model) remove(key string, id VersionID) {
	m.keys[key] = slices.DeleteFunc(m.keys[key], func(v modelVersion) bool { return v.id == id })
	if len(m.keys[key]) == 0 {
		delete(m.keys, key)
	}
}

// chunkCount is how many chunk records the store must hold: those of every version,
// part and staged blob, and no other.
func (m *model) chunkCount() int {
	n := 0
	for _, vs := range m.keys {
		for _, v := range vs {
			for _, p := range v.body {
				n += p.chunks()
			}
		}
	}
	for _, u := range m.uploads {
		for _, p := range u.parts {
			n += p.piece.chunks()
		}
	}
	for _, c := range m.staged {
		n += c
	}
	return n
}

// modelCond is a command's WriteConditions as the generator built them: which ETags
// (bare) the If-Match list names, and whether it holds "*".
type modelCond struct {
	ifNoneMatch bool
	ifMatch     bool
	any         bool
	etags       []string
}

// check: If-None-Match fails when the key has a current object; If-Match fails with
// NoSuchKey without one, and when its ETag is not listed.
func (m *model) check(key string, c modelCond) error {
	cur, exists := m.current(key)
	if c.ifNoneMatch && exists {
		return ErrPreconditionFailed
	}
	if c.ifMatch {
		if !exists {
			return ErrNoSuchKey
		}
		if !c.any && !slices.Contains(c.etags, cur.etag) {
			return ErrPreconditionFailed
		}
	}
	return nil
}

// modelCmd is a command with what the model needs beside it: the body of a PutObject
// or PutPart, and the generator's view of its conditions.
type modelCmd struct {
	cmd  Command
	body []byte
	cond modelCond
}

// outcome is the comparable summary of a Result.
type outcome struct {
	Err                  string // name of the sentinel error; "" on success
	VersionID            string
	Null, Latest, Marker bool
	ETag                 string
	Size                 int64
	PartSizes            string
	Delete               DeleteResult
	PartNumber           int
	PartSize             int64
	PartETag             string
	UploadKey, UploadID  string
}

var sentinels = []error{
	ErrNoSuchBucket, ErrNoSuchKey, ErrNoSuchVersion, ErrDeleteMarker, ErrNoSuchUpload, ErrInvalidPart,
	ErrInvalidPartOrder, ErrEntityTooSmall, ErrPreconditionFailed, ErrInvalidVersionID, ErrInvalidArgument,
	ErrAlreadyApplied, ErrPendingLost, ErrClosed,
}

func errName(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "unexpected: " + err.Error()
}

func outcomeOf(r Result) outcome {
	o := outcome{Err: errName(r.Err), Delete: r.Delete}
	if v := r.Version; !v.ID.IsZero() {
		o.VersionID, o.Null, o.Latest, o.Marker = v.ID.String(), v.IsNull, v.IsLatest, v.DeleteMarker
		o.ETag, o.Size = v.ETag, v.Size
		if v.PartSizes != nil {
			o.PartSizes = fmt.Sprint(v.PartSizes)
		}
	}
	o.PartNumber, o.PartSize, o.PartETag = r.Part.Number, r.Part.Size, r.Part.ETag
	o.UploadKey, o.UploadID = r.Upload.Key, r.Upload.UploadID
	return o
}

func rejected(err error) outcome { return outcome{Err: errName(err)} }

func (m *model) versionOutcome(key string, v modelVersion) outcome {
	o := outcome{VersionID: v.id.String(), Null: v.null, Latest: m.isLatest(key, v.id), Marker: v.marker, ETag: v.etag, Size: v.size()}
	if v.multipart {
		o.PartSizes = fmt.Sprint(v.partSizes())
	}
	return o
}

// multipartETag is S3's: the MD5 of the parts' binary MD5s, then "-" and the count.
func multipartETag(pieces []modelPiece) string {
	h := md5.New()
	for _, p := range pieces {
		s := md5.Sum(p.data)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(pieces))
}

// sameETagModel: a CompleteMultipartUpload names a part's ETag with or without quotes, in
// either case.
func sameETagModel(listed, etag string) bool {
	return strings.ToLower(strings.Trim(listed, `"`)) == etag
}

// apply runs one command on the model and returns the outcome the store must report.
// Every command of the bucket "b"; a rejected command changes nothing but maxhlc.
func (m *model) apply(mc modelCmd) outcome {
	switch c := mc.cmd.(type) {
	case PutChunkCmd:
		m.staged[c.Blob]++
		return outcome{}
	case DiscardBlobCmd:
		delete(m.staged, c.Blob) // a referenced blob is not staged: nothing happens
		return outcome{}
	case SetVersioningCmd:
		m.state = c.State
		return outcome{}
	case PutObjectCmd:
		m.maxHLC = max(m.maxHLC, c.ID.Time)
		if m.hasID(c.Key, c.ID) {
			return rejected(ErrInvalidArgument)
		}
		if err := m.check(c.Key, mc.cond); err != nil {
			return rejected(err) // the blob stays staged
		}
		v := modelVersion{id: c.ID, etag: c.ETag, body: []modelPiece{{data: mc.body}}}
		if len(mc.body) == 0 {
			v.body = nil
		}
		m.write(c.Key, v)
		delete(m.staged, c.Blob)
		v = m.byID(c.Key, c.ID)
		return m.versionOutcome(c.Key, v)
	case DeleteObjectCmd:
		m.maxHLC = max(m.maxHLC, c.MarkerID.Time)
		if c.VersionID != "" {
			v, err := m.find(c.Key, c.VersionID)
			switch {
			case errors.Is(err, ErrNoSuchVersion):
				return outcome{Delete: DeleteResult{VersionID: c.VersionID}}
			case err != nil:
				return rejected(err)
			}
			o := m.versionOutcome(c.Key, v)
			o.Delete = DeleteResult{VersionID: c.VersionID, DeleteMarker: v.marker}
			m.remove(c.Key, v.id)
			return o
		}
		if m.state == Unversioned {
			m.removeNull(c.Key)
			return outcome{}
		}
		if m.hasID(c.Key, c.MarkerID) {
			return rejected(ErrInvalidArgument)
		}
		mk := modelVersion{id: c.MarkerID, marker: true}
		m.write(c.Key, mk)
		mk = m.byID(c.Key, c.MarkerID)
		o := m.versionOutcome(c.Key, mk)
		o.Delete = DeleteResult{VersionID: vidText(mk), DeleteMarker: true}
		return o
	case CreateUploadCmd:
		ref := uploadRef{c.Key, c.UploadID}
		if m.uploads[ref] != nil {
			return rejected(ErrInvalidArgument)
		}
		m.uploads[ref] = &modelUpload{parts: map[int]modelPart{}}
		return outcome{UploadKey: c.Key, UploadID: c.UploadID}
	case PutPartCmd:
		u := m.uploads[uploadRef{c.Key, c.UploadID}]
		switch {
		case u == nil:
			return rejected(ErrNoSuchUpload)
		case c.Number < 1 || c.Number > 10000:
			return rejected(ErrInvalidArgument)
		}
		u.parts[c.Number] = modelPart{piece: modelPiece{data: mc.body}, etag: c.ETag}
		delete(m.staged, c.Blob)
		return outcome{PartNumber: c.Number, PartSize: int64(len(mc.body)), PartETag: c.ETag}
	case CompleteUploadCmd:
		m.maxHLC = max(m.maxHLC, c.ID.Time)
		ref := uploadRef{c.Key, c.UploadID}
		u := m.uploads[ref]
		if u == nil {
			return rejected(ErrNoSuchUpload)
		}
		if len(c.Parts) == 0 {
			return rejected(ErrInvalidArgument)
		}
		for i := 1; i < len(c.Parts); i++ {
			if c.Parts[i].Number <= c.Parts[i-1].Number {
				return rejected(ErrInvalidPartOrder)
			}
		}
		if m.hasID(c.Key, c.ID) {
			return rejected(ErrInvalidArgument)
		}
		var pieces []modelPiece
		for _, cp := range c.Parts {
			p, ok := u.parts[cp.Number]
			if !ok || !sameETagModel(cp.ETag, p.etag) {
				return rejected(ErrInvalidPart)
			}
			pieces = append(pieces, p.piece)
		}
		for _, p := range pieces[:len(pieces)-1] {
			if len(p.data) < MinPartSize {
				return rejected(ErrEntityTooSmall)
			}
		}
		if err := m.check(c.Key, mc.cond); err != nil {
			return rejected(err) // the upload and its parts stay
		}
		v := modelVersion{id: c.ID, etag: multipartETag(pieces), body: pieces, multipart: true}
		m.write(c.Key, v)
		delete(m.uploads, ref) // parts not listed go with it
		v = m.byID(c.Key, c.ID)
		return m.versionOutcome(c.Key, v)
	case AbortUploadCmd:
		ref := uploadRef{c.Key, c.UploadID}
		if m.uploads[ref] == nil {
			return rejected(ErrNoSuchUpload)
		}
		delete(m.uploads, ref)
		return outcome{}
	}
	panic(fmt.Sprintf("model: no rule for %T", mc.cmd))
}

// byID returns the key's entry with this ID.
func (m *model) byID(key string, id VersionID) modelVersion {
	for _, v := range m.keys[key] {
		if v.id == id {
			return v
		}
	}
	panic(fmt.Sprintf("model: %q has no version %v", key, id))
}

func (m *model) sortedKeys() []string {
	return slices.Sorted(maps.Keys(m.keys))
}

// modelCommonPrefix: the key's text after prefix up to and including the first
// delimiter, if there is one.
func modelCommonPrefix(key, prefix, delim string) (string, bool) {
	if delim == "" {
		return "", false
	}
	rest := key[len(prefix):]
	i := strings.Index(rest, delim)
	if i < 0 {
		return "", false
	}
	return prefix + rest[:i+len(delim)], true
}

// rollUpModel appends "P:"+cp once for a run of keys under one common prefix.
func rollUpModel(out []string, cp string) []string {
	if len(out) == 0 || out[len(out)-1] != "P:"+cp {
		out = append(out, "P:"+cp)
	}
	return out
}

// listObjects is the model's full (unpaginated) ListObjects: keys and common prefixes
// interleaved in order. A key whose latest version is a marker is not listed.
func (m *model) listObjects(prefix, delim string) []string {
	var out []string
	for _, k := range m.sortedKeys() {
		if !strings.HasPrefix(k, prefix) || m.keys[k][0].marker {
			continue
		}
		if cp, ok := modelCommonPrefix(k, prefix, delim); ok {
			out = rollUpModel(out, cp)
			continue
		}
		out = append(out, "K:"+k)
	}
	return out
}

// listVersions: every version and marker by key, greatest ID first within a key.
func (m *model) listVersions(prefix, delim string) []string {
	var out []string
	for _, k := range m.sortedKeys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if cp, ok := modelCommonPrefix(k, prefix, delim); ok {
			out = rollUpModel(out, cp)
			continue
		}
		for i, v := range m.keys[k] {
			out = append(out, fmt.Sprintf("V:%s#%s#%v#%v", k, vidText(v), v.marker, i == 0))
		}
	}
	return out
}

func (m *model) sortedUploads() []uploadRef {
	refs := slices.Collect(maps.Keys(m.uploads))
	slices.SortFunc(refs, func(a, b uploadRef) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return refs
}

// listUploads: uploads by key, then upload ID.
func (m *model) listUploads(prefix, delim string) []string {
	var out []string
	for _, u := range m.sortedUploads() {
		if !strings.HasPrefix(u.key, prefix) {
			continue
		}
		if cp, ok := modelCommonPrefix(u.key, prefix, delim); ok {
			out = rollUpModel(out, cp)
			continue
		}
		out = append(out, "U:"+u.key+"#"+u.id)
	}
	return out
}

// listParts: an upload's parts by number.
func (m *model) listParts(ref uploadRef) []string {
	u := m.uploads[ref]
	var out []string
	for _, n := range slices.Sorted(maps.Keys(u.parts)) {
		p := u.parts[n]
		out = append(out, fmt.Sprintf("%d#%d#%s", n, len(p.piece.data), p.etag))
	}
	return out
}

// entryKey is the key a listing entry sorts by.
func entryKey(e string) string {
	if i := strings.Index(e, "#"); i >= 0 {
		return e[2:i]
	}
	return e[2:]
}
