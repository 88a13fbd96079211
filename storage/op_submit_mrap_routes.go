package storage

import (
	"fmt"
	"slices"
)

// OpSubmitMRAPRoutes is SubmitMRAPRoutesCmd's code.
const OpSubmitMRAPRoutes Op = 26

// SubmitMRAPRoutesCmd changes the routes of the MRAP whose alias is Alias, owned
// by Account (applied in the control region): each route names a region of the
// MRAP by its Bucket or its Region (both: they must agree) and sets its
// TrafficDial (0 to 100); regions not named keep theirs. A route naming no region
// of the MRAP, a dial out of range, or a result with no active region:
// ErrInvalidMRAP, and nothing changes. An alias that Account holds no MRAP
// under: ErrNoSuchMRAP.
type SubmitMRAPRoutesCmd struct {
	Account, Alias string
	Routes         []MRAPRoute
}

func (SubmitMRAPRoutesCmd) Op() Op { return OpSubmitMRAPRoutes }

func (c SubmitMRAPRoutesCmd) PayloadSize() int { return 32 * len(c.Routes) }

func (SubmitMRAPRoutesCmd) catalogOp() {}

func (c SubmitMRAPRoutesCmd) validate() error {
	if c.Account == "" || c.Alias == "" {
		return fmt.Errorf("%w: routes for no MRAP", ErrInvalidMRAP)
	}
	for _, r := range c.Routes {
		if r.Bucket == "" && r.Region == "" {
			return fmt.Errorf("%w: a route names neither a bucket nor a region", ErrInvalidMRAP)
		}
		if r.TrafficDial < 0 || r.TrafficDial > 100 {
			return fmt.Errorf("%w: traffic dial %d is not between 0 and 100", ErrInvalidMRAP, r.TrafficDial)
		}
	}
	return nil
}

func (c SubmitMRAPRoutesCmd) encode(e *encoder) {
	e.str(c.Account)
	e.str(c.Alias)
	e.uvarint(uint64(len(c.Routes)))
	for _, r := range c.Routes {
		e.str(r.Bucket)
		e.str(r.Region)
		e.varint(int64(r.TrafficDial))
	}
}

func (c *SubmitMRAPRoutesCmd) decode(d *decoder) {
	*c = SubmitMRAPRoutesCmd{Account: d.str(), Alias: d.str()}
	if n := d.count(3); n > 0 {
		c.Routes = make([]MRAPRoute, n)
		for i := range c.Routes {
			c.Routes[i] = MRAPRoute{Bucket: d.str(), Region: d.str(), TrafficDial: d.intVarint()}
		}
	}
}

// routeRegions applies routes to regions (a copy) or says why it cannot.
func routeRegions(regions []MRAPRegion, routes []MRAPRoute) ([]MRAPRegion, error) {
	out := slices.Clone(regions)
	for _, r := range routes {
		i := slices.IndexFunc(out, func(x MRAPRegion) bool {
			return (r.Bucket == "" || x.Bucket == r.Bucket) && (r.Region == "" || x.Region == r.Region)
		})
		if i < 0 {
			return nil, fmt.Errorf("%w: the route for bucket %q, region %q names no region of the access point", ErrInvalidMRAP, r.Bucket, r.Region)
		}
		out[i].TrafficDial = r.TrafficDial
	}
	if !slices.ContainsFunc(out, MRAPRegion.Active) {
		return nil, fmt.Errorf("%w: at least one region must stay active", ErrInvalidMRAP)
	}
	return out, nil
}

func (c SubmitMRAPRoutesCmd) apply(a *applier) (Result, error) {
	m, ok, err := mrapByAlias(a.tx, c.Alias)
	if err == nil && (!ok || m.Account != c.Account) {
		err = fmt.Errorf("%w: %q", ErrNoSuchMRAP, c.Alias)
	}
	if err != nil {
		return rejectBusiness(err)
	}
	regions, err := routeRegions(m.Regions, c.Routes)
	if err != nil {
		return fail(err)
	}
	if slices.Equal(regions, m.Regions) {
		return Result{}, nil
	}
	m.Regions = regions
	if err := putMRAP(a.tx, m); err != nil {
		return Result{}, err
	}
	return Result{}, bumpCatalogVersion(a.tx)
}
