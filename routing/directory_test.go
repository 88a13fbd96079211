package routing

import (
	"testing"
	"time"
)

func TestRegions_CountsHealthyMembersAndPicksTheLatestLeaderClaim(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	peer := func(name, region string, role Role, h Health, leader bool, since time.Time) Peer {
		return Peer{Name: name, Health: h, Meta: Meta{Region: region, Role: role, Leader: leader, LeaderSince: since}}
	}
	peers := []Peer{
		peer("eu-1", "eu", RoleMember, HealthAlive, true, at(10)),
		peer("eu-2", "eu", RoleMember, HealthSuspect, true, at(20)), // newer claim, still healthy
		peer("eu-3", "eu", RoleMember, HealthDead, true, at(30)),    // newest, but dead
		peer("edge", "eu", RoleEdge, HealthAlive, false, time.Time{}),
		peer("us-1", "us", RoleMember, HealthLeft, false, time.Time{}),
		{Name: "alien", Health: HealthAlive}, // unreadable meta: no region
	}
	regions := regionsOf(peers)
	if len(regions) != 2 || regions[0].Name != "eu" || regions[1].Name != "us" {
		t.Fatalf("regions: %+v", regions)
	}
	eu, us := regions[0], regions[1]
	if len(eu.Members) != 3 || len(eu.Edges) != 1 || eu.Healthy != 2 {
		t.Errorf("eu: %d members, %d edges, %d healthy; want 3, 1, 2", len(eu.Members), len(eu.Edges), eu.Healthy)
	}
	if !eu.HasLeader || eu.Leader.Name != "eu-2" {
		t.Errorf("eu leader %q (%v), want eu-2", eu.Leader.Name, eu.HasLeader)
	}
	if us.HasLeader || us.Healthy != 0 {
		t.Errorf("us: %+v, want no leader and none healthy", us)
	}
}

func TestSmoothRTT(t *testing.T) {
	avg := smoothRTT(0, 100*time.Millisecond, 0.25)
	if avg != 100*time.Millisecond {
		t.Fatalf("first sample gives %v, want it as is", avg)
	}
	avg = smoothRTT(avg, 200*time.Millisecond, 0.25)
	if avg != 125*time.Millisecond {
		t.Fatalf("got %v, want 125ms", avg)
	}
	for range 50 {
		avg = smoothRTT(avg, 300*time.Millisecond, 0.25)
	}
	if d := 300*time.Millisecond - avg; d < 0 || d > time.Millisecond {
		t.Errorf("after many samples of 300ms the average is %v", avg)
	}
}
