package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// The MRAP catalog: Multi-Region Access Points and their asynchronous operations,
// kept beside the bucket catalog in the control region's store only and changed by
// PutMRAP, DeleteMRAP, PutMRAPPolicy, CompleteMRAPOperation and SubmitMRAPRoutes.
// Every change raises the catalog's version, so watchers of the catalog see MRAPs
// as they see buckets. Schema: SCHEMA.md, `mraps`, `mrapaliases`, `mrapops`,
// `mraptokens`.

// ErrMRAPAliasTaken is returned by PutMRAP when the alias chosen for a new MRAP
// has ever been used before (aliases are never reused): the caller picks another
// alias and tries again. It matches ErrMRAPAlreadyExists.
var ErrMRAPAliasTaken = fmt.Errorf("%w: the alias was used before", ErrMRAPAlreadyExists)

// MaxMRAPsPerAccount is the most MRAPs an account may have (S3's limit).
const MaxMRAPsPerAccount = 100

// countMRAPs counts account's MRAPs in tx.
func countMRAPs(tx *bbolt.Tx, account string) int {
	bk := tx.Bucket(bktMRAPs)
	if bk == nil {
		return 0
	}
	prefix := []byte(account + "\x00")
	n := 0
	cur := bk.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		n++
	}
	return n
}

// Tables of the MRAP catalog.
var (
	bktMRAPs       = []byte("mraps")       // account 0x00 name -> MRAP
	bktMRAPAliases = []byte("mrapaliases") // alias -> account, name ("" once deleted)
	bktMRAPOps     = []byte("mrapops")     // token ARN -> MRAPOperation
	bktMRAPTokens  = []byte("mraptokens")  // account 0x00 client token -> token ARN
)

// mrapKey is the key of an account's name (or client token) in its table: the
// account first, so that keys sort by account, then by name.
func mrapKey(account, name string) []byte {
	return []byte(account + "\x00" + name)
}

// MRAP finds the MRAP name of account in the snapshot.
func (s CatalogSnapshot) MRAP(account, name string) (MRAP, bool) {
	i, ok := slices.BinarySearchFunc(s.MRAPs, MRAP{Account: account, Name: name}, compareMRAP)
	if !ok {
		return MRAP{}, false
	}
	return s.MRAPs[i], true
}

// MRAPByAlias finds the MRAP whose alias is alias in the snapshot.
func (s CatalogSnapshot) MRAPByAlias(alias string) (MRAP, bool) {
	for _, m := range s.MRAPs {
		if m.Alias == alias {
			return m, true
		}
	}
	return MRAP{}, false
}

// AccountMRAPs returns account's MRAPs in the snapshot, by name.
func (s CatalogSnapshot) AccountMRAPs(account string) []MRAP {
	var out []MRAP
	for _, m := range s.MRAPs {
		if m.Account == account {
			out = append(out, m)
		}
	}
	return out
}

// compareMRAP orders MRAPs by account, then by name (the order of
// CatalogSnapshot.MRAPs).
func compareMRAP(a, b MRAP) int {
	if c := strings.Compare(a.Account, b.Account); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// ---- encodings (shared by commands and records) ----

func (e *encoder) mrap(m MRAP) {
	e.str(m.Account)
	e.str(m.Name)
	e.str(m.Alias)
	e.time(m.Created)
	e.str(m.Status)
	p := m.PublicAccessBlock
	var flags byte
	for i, b := range []bool{p.BlockPublicAcls, p.IgnorePublicAcls, p.BlockPublicPolicy, p.RestrictPublicBuckets} {
		if b {
			flags |= 1 << i
		}
	}
	e.byte1(flags)
	e.uvarint(uint64(len(m.Regions)))
	for _, r := range m.Regions {
		e.str(r.Region)
		e.str(r.Bucket)
		e.str(r.BucketAccountID)
		e.varint(int64(r.TrafficDial))
	}
	e.str(m.Policy)
	e.str(m.ProposedPolicy)
}

func (d *decoder) mrap() MRAP {
	m := MRAP{Account: d.str(), Name: d.str(), Alias: d.str(), Created: d.time(), Status: d.str()}
	flags := d.byte1()
	if flags > 15 {
		d.fail()
	}
	m.PublicAccessBlock = MRAPPublicAccessBlock{
		BlockPublicAcls: flags&1 != 0, IgnorePublicAcls: flags&2 != 0,
		BlockPublicPolicy: flags&4 != 0, RestrictPublicBuckets: flags&8 != 0,
	}
	if n := d.count(4); n > 0 {
		m.Regions = make([]MRAPRegion, n)
		for i := range m.Regions {
			m.Regions[i] = MRAPRegion{Region: d.str(), Bucket: d.str(), BucketAccountID: d.str(), TrafficDial: d.intVarint()}
		}
	}
	m.Policy = d.str()
	m.ProposedPolicy = d.str()
	return m
}

func (e *encoder) mrapOperation(o MRAPOperation) {
	e.str(o.TokenARN)
	e.str(o.Operation)
	e.str(o.Account)
	e.str(o.ClientToken)
	e.time(o.Created)
	e.str(o.Status)
	e.str(o.Name)
	e.bool(o.Create != nil)
	if o.Create != nil {
		e.mrap(*o.Create)
	}
	e.str(o.Policy)
	e.str(o.ErrorCode)
	e.str(o.ErrorMessage)
}

func (d *decoder) mrapOperation() MRAPOperation {
	o := MRAPOperation{TokenARN: d.str(), Operation: d.str(), Account: d.str(), ClientToken: d.str(),
		Created: d.time(), Status: d.str(), Name: d.str()}
	if d.bool() {
		m := d.mrap()
		o.Create = &m
	}
	o.Policy = d.str()
	o.ErrorCode = d.str()
	o.ErrorMessage = d.str()
	return o
}

func encodeMRAPRecord(m MRAP) []byte {
	e := encoder{b: make([]byte, 0, 128)}
	e.byte1(recordV1)
	e.mrap(m)
	return e.b
}

func decodeMRAPRecord(v []byte) (MRAP, error) {
	d, err := checkVersion(v)
	if err != nil {
		return MRAP{}, err
	}
	m := d.mrap()
	if err := d.done(); err != nil {
		return MRAP{}, fmt.Errorf("mrap record: %w", err)
	}
	return m, nil
}

func encodeMRAPOpRecord(o MRAPOperation) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.byte1(recordV1)
	e.mrapOperation(o)
	return e.b
}

func decodeMRAPOpRecord(v []byte) (MRAPOperation, error) {
	d, err := checkVersion(v)
	if err != nil {
		return MRAPOperation{}, err
	}
	o := d.mrapOperation()
	if err := d.done(); err != nil {
		return MRAPOperation{}, fmt.Errorf("mrap operation record: %w", err)
	}
	return o, nil
}

// ---- reads and writes inside a transaction ----

// getMRAP reads account's MRAP name; ok false if there is none.
func getMRAP(tx *bbolt.Tx, account, name string) (MRAP, bool, error) {
	bk := tx.Bucket(bktMRAPs)
	if bk == nil {
		return MRAP{}, false, nil
	}
	raw := bk.Get(mrapKey(account, name))
	if raw == nil {
		return MRAP{}, false, nil
	}
	m, err := decodeMRAPRecord(raw)
	return m, err == nil, err
}

// putMRAP writes m.
func putMRAP(tx *bbolt.Tx, m MRAP) error {
	bk, err := tx.CreateBucketIfNotExists(bktMRAPs)
	if err != nil {
		return err
	}
	return bk.Put(mrapKey(m.Account, m.Name), encodeMRAPRecord(m))
}

// deleteMRAP removes m; its alias stays used, owned by nobody.
func deleteMRAP(tx *bbolt.Tx, m MRAP) error {
	if bk := tx.Bucket(bktMRAPs); bk != nil {
		if err := bk.Delete(mrapKey(m.Account, m.Name)); err != nil {
			return err
		}
	}
	return putAlias(tx, m.Alias, m.Account, "")
}

// aliasOwner reads the alias table: used reports whether alias was ever given
// out, and account and name the MRAP that holds it now (name "" after deletion).
func aliasOwner(tx *bbolt.Tx, alias string) (account, name string, used bool, err error) {
	bk := tx.Bucket(bktMRAPAliases)
	if bk == nil {
		return "", "", false, nil
	}
	raw := bk.Get([]byte(alias))
	if raw == nil {
		return "", "", false, nil
	}
	d, err := checkVersion(raw)
	if err != nil {
		return "", "", false, err
	}
	account, name = d.str(), d.str()
	if err := d.done(); err != nil {
		return "", "", false, fmt.Errorf("mrap alias %q: %w", alias, err)
	}
	return account, name, true, nil
}

func putAlias(tx *bbolt.Tx, alias, account, name string) error {
	bk, err := tx.CreateBucketIfNotExists(bktMRAPAliases)
	if err != nil {
		return err
	}
	e := encoder{}
	e.byte1(recordV1)
	e.str(account)
	e.str(name)
	return bk.Put([]byte(alias), e.b)
}

// mrapByAlias reads the MRAP alias names; ok false if none holds it now.
func mrapByAlias(tx *bbolt.Tx, alias string) (MRAP, bool, error) {
	account, name, used, err := aliasOwner(tx, alias)
	if err != nil || !used || name == "" {
		return MRAP{}, false, err
	}
	return getMRAP(tx, account, name)
}

// getMRAPOp reads the operation tokenARN; ok false if there is none.
func getMRAPOp(tx *bbolt.Tx, tokenARN string) (MRAPOperation, bool, error) {
	bk := tx.Bucket(bktMRAPOps)
	if bk == nil {
		return MRAPOperation{}, false, nil
	}
	raw := bk.Get([]byte(tokenARN))
	if raw == nil {
		return MRAPOperation{}, false, nil
	}
	o, err := decodeMRAPOpRecord(raw)
	return o, err == nil, err
}

// getMRAPOpByToken reads account's operation started with clientToken.
func getMRAPOpByToken(tx *bbolt.Tx, account, clientToken string) (MRAPOperation, bool, error) {
	bk := tx.Bucket(bktMRAPTokens)
	if bk == nil {
		return MRAPOperation{}, false, nil
	}
	arn := bk.Get(mrapKey(account, clientToken))
	if arn == nil {
		return MRAPOperation{}, false, nil
	}
	return getMRAPOp(tx, string(arn))
}

// putMRAPOp writes o, and for a new one its client token.
func putMRAPOp(tx *bbolt.Tx, o MRAPOperation) error {
	bk, err := tx.CreateBucketIfNotExists(bktMRAPOps)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(o.TokenARN), encodeMRAPOpRecord(o)); err != nil {
		return err
	}
	tk, err := tx.CreateBucketIfNotExists(bktMRAPTokens)
	if err != nil {
		return err
	}
	return tk.Put(mrapKey(o.Account, o.ClientToken), []byte(o.TokenARN))
}

// checkMRAPToken looks for an operation account started with clientToken:
// found is true when there is one and same says it is this request again (the
// command then succeeds without changing anything); another request with the
// same token is refused with ErrInvalidMRAP.
func checkMRAPToken(tx *bbolt.Tx, account, clientToken, tokenARN string, same func(MRAPOperation) bool) (found bool, err error) {
	o, ok, err := getMRAPOpByToken(tx, account, clientToken)
	if err != nil {
		return false, err
	}
	if ok {
		if !same(o) {
			return false, fmt.Errorf("%w: client token %q was used for another request", ErrInvalidMRAP, clientToken)
		}
		return true, nil
	}
	if _, ok, err := getMRAPOp(tx, tokenARN); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%w: request token %s is in use", ErrInvalidMRAP, tokenARN)
		}
		return false, err
	}
	return false, nil
}

// checkMRAPRequest checks the fields every MRAP request carries.
func checkMRAPRequest(account, name, tokenARN, clientToken string) error {
	switch {
	case account == "":
		return fmt.Errorf("%w: no account", ErrInvalidMRAP)
	case name == "":
		return fmt.Errorf("%w: no name", ErrInvalidMRAP)
	case tokenARN == "":
		return fmt.Errorf("%w: no request token", ErrInvalidMRAP)
	case clientToken == "":
		return fmt.Errorf("%w: no client token", ErrInvalidMRAP)
	}
	return nil
}

// ---- Store reads ----

// readMRAPs reads every MRAP in tx, by account and name.
func readMRAPs(tx *bbolt.Tx) ([]MRAP, error) {
	bk := tx.Bucket(bktMRAPs)
	if bk == nil {
		return nil, nil
	}
	var out []MRAP
	err := bk.ForEach(func(k, v []byte) error {
		m, err := decodeMRAPRecord(v)
		if err != nil {
			return fmt.Errorf("mrap %q: %w", k, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// MRAPOperation returns the asynchronous MRAP operation tokenARN names; ok false
// if there is none.
func (s *Store) MRAPOperation(tokenARN string) (o MRAPOperation, ok bool, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		o, ok, err = getMRAPOp(tx, tokenARN)
		return err
	})
	if err != nil {
		return MRAPOperation{}, false, fmt.Errorf("storage: read mrap operation: %w", err)
	}
	return o, ok, nil
}

// MRAPOperationByToken returns the operation account started with clientToken;
// ok false if there is none.
func (s *Store) MRAPOperationByToken(account, clientToken string) (o MRAPOperation, ok bool, err error) {
	err = s.view(func(tx *bbolt.Tx) error {
		o, ok, err = getMRAPOpByToken(tx, account, clientToken)
		return err
	})
	if err != nil {
		return MRAPOperation{}, false, fmt.Errorf("storage: read mrap operation: %w", err)
	}
	return o, ok, nil
}

// MRAPOperations returns every MRAP operation recorded (finished ones
// included), by token ARN.
func (s *Store) MRAPOperations() ([]MRAPOperation, error) {
	var out []MRAPOperation
	err := s.view(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bktMRAPOps)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			o, err := decodeMRAPOpRecord(v)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			out = append(out, o)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read mrap operations: %w", err)
	}
	return out, nil
}

// rejectBusiness rejects the command with err, a business error; nil: the
// command succeeds without a change.
func rejectBusiness(err error) (Result, error) {
	if err == nil {
		return Result{}, nil
	}
	if isBusiness(err) {
		return fail(err)
	}
	return Result{}, err
}

// isBusiness tells the MRAP catalog's refusals from I/O and corruption errors,
// which fail the whole batch.
func isBusiness(err error) bool {
	for _, s := range []error{ErrInvalidMRAP, ErrMRAPAlreadyExists, ErrNoSuchMRAP, ErrNoSuchAsyncRequest, ErrMRAPRouteConflict} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
