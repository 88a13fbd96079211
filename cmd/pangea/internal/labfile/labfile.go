// Package labfile reads and writes lab.json, the file through which a running
// `pangea node` or `pangea lab` tells scripts and tests where it listens and which
// credentials it accepts. The format is stable: fields may be added, never renamed.
package labfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Name is the file name inside the data directory.
const Name = "lab.json"

// File is the content of lab.json.
type File struct {
	Endpoints Endpoints `json:"endpoints"`
	AccessKey string    `json:"access_key"`
	SecretKey string    `json:"secret_key"`
	// ClusterSecret is the secret of the region's internal channels (raft, gRPC),
	// which `pangea ctl` needs. Written by `pangea lab`, which generates it.
	ClusterSecret string `json:"cluster_secret,omitempty"`
	// ClusterAddrs lists each region's members' cluster addresses (for `pangea ctl`).
	ClusterAddrs map[string][]string `json:"cluster_addrs,omitempty"`
	// GossipAddrs lists each region's members' gossip (memberlist) addresses, in
	// the order of ClusterAddrs. Written by `pangea lab`.
	GossipAddrs map[string][]string `json:"gossip_addrs,omitempty"`
	// ControlRegion names the region whose raft will hold the global catalog (the
	// topology's first). Written by `pangea lab`.
	ControlRegion string `json:"control_region,omitempty"`
	// Admin is the base URL of the lab's admin API (chaos controls and status,
	// requests signed with ClusterSecret: `pangea ctl --lab DIR`). Written by
	// `pangea lab`.
	Admin string `json:"admin,omitempty"`
	// Edges lists the edges, the S3 endpoints at each location that store
	// nothing and send each request to the bucket's region. Endpoints.Global is
	// the first. Written by `pangea lab`.
	Edges []Edge `json:"edges,omitempty"`
	// AccountID is the account of the lab's credentials: the one S3 Control
	// requests name (x-amz-account-id) and MRAP ARNs carry.
	AccountID string `json:"account_id,omitempty"`
	// MRAPs lists the Multi-Region Access Points the lab made at start-up
	// (pangea lab --mrap NAME).
	MRAPs []MRAP `json:"mraps,omitempty"`
	// Proxy is proxy mode's URL (pangea lab --proxy) and CABundle the PEM file
	// of the CA its certificates chain to: HTTPS_PROXY and AWS_CA_BUNDLE.
	Proxy    string `json:"proxy,omitempty"`
	CABundle string `json:"ca_bundle,omitempty"`
	// TLSCA is the PEM file of the CA the lab's HTTPS endpoints' certificate
	// chains to (pangea lab --tls).
	TLSCA string `json:"tls_ca,omitempty"`
}

// MRAP is a Multi-Region Access Point of the lab.
type MRAP struct {
	Name  string `json:"name"`
	Alias string `json:"alias"`
	ARN   string `json:"arn"`
	// Buckets names its bucket in each region.
	Buckets map[string]string `json:"buckets"`
}

// Edge is one edge of the lab.
type Edge struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	URL      string `json:"url"`
}

// Endpoints lists the global endpoint and the endpoints of each region's nodes.
type Endpoints struct {
	Global  string              `json:"global"`
	Regions map[string][]string `json:"regions"`
}

// Path returns the lab.json path inside dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, Name) }

// Write stores f as <dataDir>/lab.json atomically: readers see the old file, no
// file, or the complete new one, never a partial write.
func Write(dataDir string, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("lab.json: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(dataDir, ".lab-*.json")
	if err != nil {
		return fmt.Errorf("lab.json: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	// The file holds the secret key: readable by the owner only.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("lab.json: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("lab.json: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("lab.json: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("lab.json: %w", err)
	}
	if err := os.Rename(tmp.Name(), Path(dataDir)); err != nil {
		return fmt.Errorf("lab.json: %w", err)
	}
	return nil
}

// Read loads <dataDir>/lab.json.
func Read(dataDir string) (File, error) {
	b, err := os.ReadFile(Path(dataDir))
	if err != nil {
		return File{}, fmt.Errorf("lab.json: %w", err)
	}
	return Parse(b)
}

// Parse decodes lab.json content and checks that it names an endpoint.
func Parse(b []byte) (File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("lab.json: %w", err)
	}
	if f.Endpoints.Global == "" {
		return File{}, errors.New("lab.json: endpoints.global is empty")
	}
	return f, nil
}

// Remove deletes <dataDir>/lab.json if present, so nobody reads the address of a
// process that is gone.
func Remove(dataDir string) error {
	if err := os.Remove(Path(dataDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab.json: %w", err)
	}
	return nil
}
