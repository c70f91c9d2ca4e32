package failover

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Instance is one instance as observed in one reconcile.
type Instance struct {
	Name string
	// Pod: the pod exists; Ready: its Ready condition is True;
	// Terminating: it has a deletionTimestamp.
	Pod, Ready, Terminating bool
	// UpToDate: the pod runs the current pod template.
	UpToDate bool
	// Reachable: its admin service answered; the fields below are its
	// answer.
	Reachable bool
	Role      string // "leader" or "replica"
	Epoch     uint64 // newest epoch of its history
	Durable   uint64 // highest durable sequence
	Diverged  bool
	Fenced    bool
	// Streaming: a replica connected to its leader.
	Streaming bool
}

// Sync is the cluster's synchronous replication setting.
type Sync struct {
	Replicas int  // k; 0 means asynchronous
	Required bool // dataDurability required
}

// MayLoseWrites reports whether a failover may lose acknowledged writes:
// only required synchronous replication confirms every write on a replica.
func (s Sync) MayLoseWrites() bool { return !s.Required || s.Replicas == 0 }

// Unavailable reports whether the leader counts as failed, and why.
// others are the other instances: when the operator cannot reach the
// leader and no replica that answers streams from it either, it is cut off
// even if its own node's kubelet still finds it ready (a network
// partition around the leader).
func Unavailable(leader Instance, others []Instance) (bool, string) {
	switch {
	case leader.Terminating:
		return true, fmt.Sprintf("leader pod %s is terminating", leader.Name)
	case leader.Reachable:
		return false, ""
	case !leader.Pod:
		return true, fmt.Sprintf("leader pod %s does not exist and its node does not answer", leader.Name)
	case !leader.Ready:
		return true, fmt.Sprintf("leader %s does not answer and its pod is not ready", leader.Name)
	}
	answering := 0
	for _, in := range others {
		if in.Name == leader.Name || !in.Reachable || in.Role != "replica" {
			continue
		}
		if in.Streaming {
			return false, ""
		}
		answering++
	}
	if answering == 0 {
		return false, ""
	}
	return true, fmt.Sprintf("leader %s answers neither the operator nor any of its %d replicas that answer (its pod still reads ready)", leader.Name, answering)
}

// Choice is the outcome of Choose: a Target, or why there is none.
type Choice struct {
	Target  string
	Blocked string // set when Target is empty
	// MayLoseWrites: the target may lack writes the old leader
	// acknowledged (asynchronous or preferred replication).
	MayLoseWrites bool
}

// Choose picks the replica to promote when leader has failed.
func Choose(leader string, instances []Instance, sync Sync) Choice {
	var replicas, candidates []Instance
	var refused []string
	for _, in := range instances {
		if in.Name == leader {
			continue
		}
		replicas = append(replicas, in)
		switch {
		case !in.Pod || in.Terminating:
			refused = append(refused, in.Name+" (no running pod)")
		case !in.Reachable:
			refused = append(refused, in.Name+" (does not answer)")
		case in.Diverged:
			refused = append(refused, in.Name+" (diverged)")
		case in.Role != "replica":
			refused = append(refused, fmt.Sprintf("%s (answers as %s)", in.Name, in.Role))
		default:
			candidates = append(candidates, in)
		}
	}
	if len(candidates) == 0 {
		if len(replicas) == 0 {
			return Choice{Blocked: "the cluster has no replicas"}
		}
		return Choice{Blocked: "no replica can be promoted: " + strings.Join(refused, ", ")}
	}
	if sync.Required && sync.Replicas > 0 {
		need := len(replicas) - sync.Replicas + 1
		if len(candidates) < need {
			return Choice{Blocked: fmt.Sprintf("synchronous replication (required, %d replicas) needs %d of the %d replicas to answer so that one holds every acknowledged write; %d do: unavailable %s",
				sync.Replicas, need, len(replicas), len(candidates), strings.Join(refused, ", "))}
		}
	}
	sort.SliceStable(candidates, func(i, j int) bool { return better(candidates[i], candidates[j]) })
	return Choice{Target: candidates[0].Name, MayLoseWrites: sync.MayLoseWrites()}
}

// better orders candidates: most advanced log first, then ready, then
// up to date, then by name.
func better(a, b Instance) bool {
	switch {
	case a.Epoch != b.Epoch:
		return a.Epoch > b.Epoch
	case a.Durable != b.Durable:
		return a.Durable > b.Durable
	case a.Ready != b.Ready:
		return a.Ready
	case a.UpToDate != b.UpToDate:
		return a.UpToDate
	}
	return a.Name < b.Name
}

// Wait is how long to wait before failing over a leader unavailable since
// since; 0 means now.
func Wait(since, now time.Time, delay time.Duration) time.Duration {
	if left := since.Add(delay).Sub(now); left > 0 {
		return left
	}
	return 0
}

// SwitchoverTarget picks the replica a planned switchover moves the
// leadership to (for a leader update or a drain): the most advanced of the
// replicas that can take over (and, with needUpToDate, run the current pod
// template). Empty when none qualifies.
func SwitchoverTarget(leader string, instances []Instance, needUpToDate bool) string {
	var ok []Instance
	for _, in := range instances {
		if in.Name == leader || notSwitchable(in) != "" || (needUpToDate && !in.UpToDate) {
			continue
		}
		ok = append(ok, in)
	}
	if len(ok) == 0 {
		return ""
	}
	sort.SliceStable(ok, func(i, j int) bool { return better(ok[i], ok[j]) })
	return ok[0].Name
}

// CanSwitchTo says why target cannot take over from leader now, or "" when
// it can.
func CanSwitchTo(leader, target string, instances []Instance) string {
	if target == leader {
		return target + " already leads"
	}
	for _, in := range instances {
		if in.Name == target {
			if why := notSwitchable(in); why != "" {
				return target + " " + why
			}
			return ""
		}
	}
	return target + " is not an instance of the cluster"
}

// notSwitchable says why in cannot take over in a planned switchover, or
// "": it must be a ready, streaming replica that has not diverged.
func notSwitchable(in Instance) string {
	switch {
	case !in.Pod || in.Terminating:
		return "has no running pod"
	case !in.Ready:
		return "is not ready"
	case !in.Reachable:
		return "does not answer"
	case in.Diverged:
		return "has diverged from the leader"
	case in.Role != "replica" || !in.Streaming:
		return "does not stream from the leader"
	}
	return ""
}
