package storage

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

const testAccount = "123456789012"

func testMRAP(name, alias string, at time.Time) MRAP {
	return MRAP{
		Account: testAccount, Name: name, Alias: alias, Created: at,
		PublicAccessBlock: MRAPPublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true},
		Regions: []MRAPRegion{
			{Region: "us-east-1", Bucket: "b-use1", TrafficDial: 100},
			{Region: "eu-west-1", Bucket: "b-euw1", TrafficDial: 100},
		},
	}
}

func putMRAPCmd(name, alias, token string, at time.Time) PutMRAPCmd {
	return PutMRAPCmd{MRAP: testMRAP(name, alias, at), TokenARN: "arn:create/" + token + alias, ClientToken: token}
}

func mustMRAPOp(t *testing.T, s *Store, arn string) MRAPOperation {
	t.Helper()
	o, ok, err := s.MRAPOperation(arn)
	if err != nil || !ok {
		t.Fatalf("operation %s: %v %v", arn, ok, err)
	}
	return o
}

func mustMRAP(t *testing.T, s *Store, name string) MRAP {
	t.Helper()
	m, ok := mustCatalog(t, s).MRAP(testAccount, name)
	if !ok {
		t.Fatalf("MRAP %q missing", name)
	}
	return m
}

// TestMRAP_CreateAndComplete: a creation records a CREATING MRAP (regions sorted)
// and its operation, raises the version, and completes to READY.
func TestMRAP_CreateAndComplete(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	c := putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at)
	h.mustApply(c)
	snap := mustCatalog(t, h.s)
	if snap.Version != 1 || len(snap.MRAPs) != 1 {
		t.Fatalf("catalog %+v", snap)
	}
	m := snap.MRAPs[0]
	if m.Status != MRAPCreating || m.Regions[0].Region != "eu-west-1" || m.Created != at {
		t.Fatalf("MRAP %+v", m)
	}
	if got, ok := snap.MRAPByAlias("maaaaaaaaaaaa.mrap"); !ok || got.Name != "one" {
		t.Fatalf("by alias: %+v %v", got, ok)
	}
	o := mustMRAPOp(t, h.s, c.TokenARN)
	if o.Status != MRAPRequestInProgress || o.Operation != MRAPOpCreate || o.Create == nil || o.Create.Name != "one" || o.Created != at {
		t.Fatalf("operation %+v", o)
	}
	if byTok, ok, _ := h.s.MRAPOperationByToken(testAccount, "tok1"); !ok || byTok.TokenARN != c.TokenARN {
		t.Fatalf("by token: %+v %v", byTok, ok)
	}
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: c.TokenARN})
	if m := mustMRAP(t, h.s, "one"); m.Status != MRAPReady {
		t.Fatalf("after completion: %+v", m)
	}
	if o := mustMRAPOp(t, h.s, c.TokenARN); o.Status != MRAPRequestSucceeded {
		t.Fatalf("operation after completion: %+v", o)
	}
	v := mustCatalog(t, h.s).Version
	// Completing again changes nothing; an unknown token is refused.
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: c.TokenARN, ErrorCode: "X"})
	if got := mustCatalog(t, h.s).Version; got != v {
		t.Fatalf("version %d after a repeated completion, want %d", got, v)
	}
	if err := h.apply(CompleteMRAPOperationCmd{TokenARN: "nope"}).Err; !errors.Is(err, ErrNoSuchAsyncRequest) {
		t.Fatalf("unknown token: %v", err)
	}
}

// TestMRAP_ClientTokenAndDuplicates: the same token for the same request is a
// no-op, for another request ErrInvalidMRAP; a used name or alias conflicts.
func TestMRAP_ClientTokenAndDuplicates(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	c := putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at)
	h.mustApply(c)
	v := mustCatalog(t, h.s).Version
	// A retry: another alias, token ARN and time, same request and token.
	retry := putMRAPCmd("one", "mbbbbbbbbbbbb.mrap", "tok1", at.Add(time.Second))
	h.mustApply(retry)
	if got := mustCatalog(t, h.s); got.Version != v || got.MRAPs[0].Alias != "maaaaaaaaaaaa.mrap" {
		t.Fatalf("retry changed the catalog: %+v", got)
	}
	other := putMRAPCmd("two", "mcccccccccccc.mrap", "tok1", at)
	if err := h.apply(other).Err; !errors.Is(err, ErrInvalidMRAP) {
		t.Fatalf("token reused for another request: %v", err)
	}
	if err := h.apply(DeleteMRAPCmd{Account: testAccount, Name: "one", TokenARN: "arn:d", ClientToken: "tok1"}).Err; !errors.Is(err, ErrInvalidMRAP) {
		t.Fatalf("token reused for a delete: %v", err)
	}
	if err := h.apply(putMRAPCmd("one", "mdddddddddddd.mrap", "tok2", at)).Err; !errors.Is(err, ErrMRAPAlreadyExists) || errors.Is(err, ErrMRAPAliasTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	err := h.apply(putMRAPCmd("two", "maaaaaaaaaaaa.mrap", "tok3", at)).Err
	if !errors.Is(err, ErrMRAPAliasTaken) || !errors.Is(err, ErrMRAPAlreadyExists) {
		t.Fatalf("alias in use: %v", err)
	}
	// Another account may use the name.
	c2 := putMRAPCmd("one", "meeeeeeeeeeee.mrap", "tok1", at)
	c2.MRAP.Account = "210987654321"
	h.mustApply(c2)
	if snap := mustCatalog(t, h.s); len(snap.MRAPs) != 2 || snap.MRAPs[0].Account != testAccount {
		t.Fatalf("catalog %+v", snap.MRAPs)
	}
}

// TestMRAP_DeleteNeverReusesAlias: a deletion makes the MRAP DELETING, its
// completion removes it; the name is free again, the alias never is.
func TestMRAP_DeleteNeverReusesAlias(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	c := putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at)
	h.mustApply(c)
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: c.TokenARN})
	if err := h.apply(DeleteMRAPCmd{Account: testAccount, Name: "nope", TokenARN: "arn:d0", ClientToken: "d0"}).Err; !errors.Is(err, ErrNoSuchMRAP) {
		t.Fatalf("delete unknown: %v", err)
	}
	d := DeleteMRAPCmd{Account: testAccount, Name: "one", TokenARN: "arn:d1", ClientToken: "d1", At: at}
	h.mustApply(d)
	if m := mustMRAP(t, h.s, "one"); m.Status != MRAPDeleting {
		t.Fatalf("after delete: %+v", m)
	}
	h.mustApply(d) // a retry
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: d.TokenARN})
	snap := mustCatalog(t, h.s)
	if len(snap.MRAPs) != 0 {
		t.Fatalf("deleted MRAP still there: %+v", snap.MRAPs)
	}
	if _, ok := snap.MRAPByAlias("maaaaaaaaaaaa.mrap"); ok {
		t.Fatal("alias still resolves")
	}
	if o := mustMRAPOp(t, h.s, d.TokenARN); o.Status != MRAPRequestSucceeded || o.Operation != MRAPOpDelete {
		t.Fatalf("delete operation %+v", o)
	}
	if err := h.apply(putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok2", at)).Err; !errors.Is(err, ErrMRAPAliasTaken) {
		t.Fatalf("alias reused: %v", err)
	}
	h.mustApply(putMRAPCmd("one", "mbbbbbbbbbbbb.mrap", "tok2", at))
}

// TestMRAP_PolicyProposedThenEstablished.
func TestMRAP_PolicyProposedThenEstablished(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	h.mustApply(putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at))
	if err := h.apply(PutMRAPPolicyCmd{Account: testAccount, Name: "nope", Policy: "{}", TokenARN: "arn:p0", ClientToken: "p0"}).Err; !errors.Is(err, ErrNoSuchMRAP) {
		t.Fatalf("policy of unknown: %v", err)
	}
	p := PutMRAPPolicyCmd{Account: testAccount, Name: "one", Policy: `{"v":1}`, TokenARN: "arn:p1", ClientToken: "p1", At: at}
	h.mustApply(p)
	if m := mustMRAP(t, h.s, "one"); m.ProposedPolicy != p.Policy || m.Policy != "" {
		t.Fatalf("proposed: %+v", m)
	}
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: p.TokenARN})
	if m := mustMRAP(t, h.s, "one"); m.ProposedPolicy != "" || m.Policy != p.Policy {
		t.Fatalf("established: %+v", m)
	}
	if o := mustMRAPOp(t, h.s, p.TokenARN); o.Policy != p.Policy || o.Status != MRAPRequestSucceeded {
		t.Fatalf("policy operation %+v", o)
	}
	// A failed put drops its proposal and keeps the established policy.
	p2 := PutMRAPPolicyCmd{Account: testAccount, Name: "one", Policy: `{"v":2}`, TokenARN: "arn:p2", ClientToken: "p2", At: at}
	h.mustApply(p2)
	h.mustApply(CompleteMRAPOperationCmd{TokenARN: p2.TokenARN, ErrorCode: "InternalError", ErrorMessage: "boom"})
	if m := mustMRAP(t, h.s, "one"); m.ProposedPolicy != "" || m.Policy != p.Policy {
		t.Fatalf("after a failed put: %+v", m)
	}
	if o := mustMRAPOp(t, h.s, p2.TokenARN); o.Status != MRAPRequestFailed || o.ErrorCode != "InternalError" || o.ErrorMessage != "boom" {
		t.Fatalf("failed operation %+v", o)
	}
}

// TestMRAP_Routes: dials change by bucket or region, unnamed regions keep
// theirs, and nothing may leave every region passive or name an unknown one.
func TestMRAP_Routes(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	h.mustApply(putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at))
	alias := "maaaaaaaaaaaa.mrap"
	h.mustApply(SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Bucket: "b-use1", TrafficDial: 0}}})
	m := mustMRAP(t, h.s, "one")
	if m.Regions[0].TrafficDial != 100 || m.Regions[1].TrafficDial != 0 { // eu-west-1, us-east-1
		t.Fatalf("routes %+v", m.Regions)
	}
	v := mustCatalog(t, h.s).Version
	for _, tc := range []struct {
		name   string
		cmd    SubmitMRAPRoutesCmd
		target error
	}{
		{"all passive", SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Region: "eu-west-1", TrafficDial: 0}}}, ErrInvalidMRAP},
		{"unknown bucket", SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Bucket: "nope", TrafficDial: 100}}}, ErrInvalidMRAP},
		{"unknown region", SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Region: "ap-south-1", TrafficDial: 100}}}, ErrInvalidMRAP},
		{"bucket and region disagree", SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Bucket: "b-use1", Region: "eu-west-1", TrafficDial: 100}}}, ErrInvalidMRAP},
		{"dial out of range", SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{{Region: "eu-west-1", TrafficDial: 101}}}, ErrInvalidMRAP},
		{"unknown alias", SubmitMRAPRoutesCmd{Account: testAccount, Alias: "mzzzzzzzzzzzz.mrap", Routes: []MRAPRoute{{Region: "eu-west-1", TrafficDial: 100}}}, ErrNoSuchMRAP},
		{"other account", SubmitMRAPRoutesCmd{Account: "210987654321", Alias: alias, Routes: []MRAPRoute{{Region: "eu-west-1", TrafficDial: 100}}}, ErrNoSuchMRAP},
	} {
		if err := h.apply(tc.cmd).Err; !errors.Is(err, tc.target) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.target)
		}
	}
	// Swapping in one call is fine: the result has an active region.
	h.mustApply(SubmitMRAPRoutesCmd{Account: testAccount, Alias: alias, Routes: []MRAPRoute{
		{Region: "eu-west-1", TrafficDial: 0}, {Region: "us-east-1", Bucket: "b-use1", TrafficDial: 100}}})
	m = mustMRAP(t, h.s, "one")
	if m.Regions[0].TrafficDial != 0 || m.Regions[1].TrafficDial != 100 {
		t.Fatalf("swapped routes %+v", m.Regions)
	}
	if got := mustCatalog(t, h.s).Version; got != v+1 {
		t.Fatalf("version %d, want %d (refusals change nothing)", got, v+1)
	}
}

// TestMRAP_SurvivesReopen: the MRAP tables are part of the file.
func TestMRAP_SurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/store.db"
	s := openTestStore(t, path)
	at := time.Unix(1_800_000_000, 0).UTC()
	c := putMRAPCmd("one", "maaaaaaaaaaaa.mrap", "tok1", at)
	if err := s.Apply([]Command{c})[0].Err; err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, path)
	if m := mustMRAP(t, s, "one"); m.Alias != "maaaaaaaaaaaa.mrap" || len(m.Regions) != 2 {
		t.Fatalf("after reopen: %+v", m)
	}
	ops, err := s.MRAPOperations()
	if err != nil || len(ops) != 1 || ops[0].TokenARN != c.TokenARN {
		t.Fatalf("operations after reopen: %+v %v", ops, err)
	}
}

// TestMRAP_AccountLimit: an account has MaxMRAPsPerAccount MRAPs at most.
func TestMRAP_AccountLimit(t *testing.T) {
	h := newHarness(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	for i := range MaxMRAPsPerAccount {
		h.mustApply(putMRAPCmd(fmt.Sprintf("n%03d", i), fmt.Sprintf("m%012d.mrap", i), fmt.Sprint("t", i), at))
	}
	if err := h.apply(putMRAPCmd("last", "mzzzzzzzzzzzz.mrap", "tl", at)).Err; !errors.Is(err, ErrInvalidMRAP) {
		t.Fatalf("one too many: %v", err)
	}
	c := putMRAPCmd("last", "mzzzzzzzzzzzz.mrap", "tl", at)
	c.MRAP.Account = "210987654321"
	h.mustApply(c)
}
