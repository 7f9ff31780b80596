package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease timings, as controller-runtime's defaults.
const (
	defaultLeaseDuration = 15 * time.Second
	defaultRenewDeadline = 10 * time.Second
	defaultRetryPeriod   = 2 * time.Second
)

// statusLeader campaigns, for the life of the manager, for the Lease that
// makes this replica the one that writes status and Events. It replaces
// controller-runtime's leader election, which ends the manager (and so the
// process) when the Lease is lost: a kube-apiserver outage longer than the
// renew deadline would then take down the one replica that led, although
// it serves decisions from its last snapshot like every other. Here losing
// the Lease only stops status writes; the replica campaigns again and, once
// it leads, rebuilds so that status catches up.
type statusLeader struct {
	lock                        resourcelock.Interface
	lease, renew, retry         time.Duration
	onElected                   func()
	log                         logr.Logger
	leading                     atomic.Bool
	campaigns, elected, dropped atomic.Int64 // for tests and logs
}

func newStatusLeader(rc *rest.Config, cfg Config, namespace, name string, onElected func()) (*statusLeader, error) {
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	id, err := identity()
	if err != nil {
		return nil, err
	}
	l := &statusLeader{
		lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
			Client:     cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		lease: or(cfg.LeaseDuration, defaultLeaseDuration), renew: or(cfg.RenewDeadline, defaultRenewDeadline),
		retry: or(cfg.RetryPeriod, defaultRetryPeriod), onElected: onElected, log: cfg.Log.WithName("leader"),
	}
	return l, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// identity is unique per process: the host name (the pod's) and a random
// suffix, as controller-runtime makes it.
func identity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	return host + "_" + hex.EncodeToString(b[:]), nil
}

// Leading reports whether this replica holds the Lease now.
func (l *statusLeader) Leading() bool { return l.leading.Load() }

// NeedLeaderElection is false: the campaign runs on every replica.
func (l *statusLeader) NeedLeaderElection() bool { return false }

// Start campaigns until ctx ends, campaigning again after each lost Lease.
func (l *statusLeader) Start(ctx context.Context) error {
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          l.lock,
			LeaseDuration: l.lease, RenewDeadline: l.renew, RetryPeriod: l.retry,
			// Hand the Lease over at once on shutdown, not after it expires.
			ReleaseOnCancel: true,
			Name:            "authgate-status-writer",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {
					l.leading.Store(true)
					l.elected.Add(1)
					l.log.Info("leading: this replica writes status")
					l.onElected()
				},
				OnStoppedLeading: func() {
					if l.leading.Swap(false) {
						l.dropped.Add(1)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		l.campaigns.Add(1)
		le.Run(ctx) // returns when the Lease is lost or ctx ends
		if ctx.Err() != nil {
			return nil
		}
		l.log.Info("lost the status-writer Lease (API server unreachable past the renew deadline?); still serving, campaigning again")
		select {
		case <-ctx.Done():
		case <-time.After(l.retry):
		}
	}
	return nil
}
