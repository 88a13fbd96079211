package topology

import "time"

// catalog is the order in which Sized picks regions: the three of the default
// first (us-east-1 stays the control region), then five more spread so that
// each added region changes the shape of the map.
var catalog = []string{
	"us-east-1",
	"eu-west-1",
	"ap-southeast-2",
	"us-west-2",
	"ap-northeast-1",
	"sa-east-1",
	"eu-central-1",
	"ap-south-1",
}

// catalogRTTms holds round-trip times in milliseconds between catalog regions,
// rounded from public inter-region measurements. They only need to be
// plausible: the lab tests routing decisions, not AWS's network.
var catalogRTTms = map[[2]string]int{
	pairKey("us-east-1", "eu-west-1"):           70,
	pairKey("us-east-1", "ap-southeast-2"):      200,
	pairKey("eu-west-1", "ap-southeast-2"):      250,
	pairKey("us-east-1", "us-west-2"):           65,
	pairKey("eu-west-1", "us-west-2"):           125,
	pairKey("ap-southeast-2", "us-west-2"):      140,
	pairKey("us-east-1", "ap-northeast-1"):      145,
	pairKey("eu-west-1", "ap-northeast-1"):      200,
	pairKey("ap-southeast-2", "ap-northeast-1"): 105,
	pairKey("us-west-2", "ap-northeast-1"):      100,
	pairKey("us-east-1", "sa-east-1"):           115,
	pairKey("eu-west-1", "sa-east-1"):           180,
	pairKey("ap-southeast-2", "sa-east-1"):      310,
	pairKey("us-west-2", "sa-east-1"):           175,
	pairKey("ap-northeast-1", "sa-east-1"):      255,
	pairKey("us-east-1", "eu-central-1"):        90,
	pairKey("eu-west-1", "eu-central-1"):        25,
	pairKey("ap-southeast-2", "eu-central-1"):   245,
	pairKey("us-west-2", "eu-central-1"):        145,
	pairKey("ap-northeast-1", "eu-central-1"):   225,
	pairKey("sa-east-1", "eu-central-1"):        200,
	pairKey("us-east-1", "ap-south-1"):          190,
	pairKey("eu-west-1", "ap-south-1"):          120,
	pairKey("ap-southeast-2", "ap-south-1"):     150,
	pairKey("us-west-2", "ap-south-1"):          215,
	pairKey("ap-northeast-1", "ap-south-1"):     130,
	pairKey("sa-east-1", "ap-south-1"):          300,
	pairKey("eu-central-1", "ap-south-1"):       110,
}

func catalogRTT(a, b string) time.Duration {
	return time.Duration(catalogRTTms[pairKey(a, b)]) * time.Millisecond
}
