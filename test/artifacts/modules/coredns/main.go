// Command coredns is upstream CoreDNS (github.com/coredns/coredns at the pinned tag) with only the
// plugins that kubeadm's Corefile uses, plus log, hosts and rewrite for hands-on changes to it.
//
// Why not upstream's main package as-is: its default plugin set pulls the AWS, Azure, Google Cloud and
// DataDog SDKs, and building it cold took the largest share of this harness's time (see ../../README.md).
// Plugin order is CoreDNS's own (core/dnsserver/zdirectives.go, from upstream's plugin.cfg): importing a
// plugin only registers it. coremain is upstream's, so `coredns -version` prints CoreDNS-<version>.
package main

import (
	"github.com/coredns/coredns/coremain"

	// kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go).
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	// Common edits to that Corefile.
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/rewrite"
)

func main() {
	coremain.Run()
}
