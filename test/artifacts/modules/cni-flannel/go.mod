// flannel's CNI plugin. Its own repository (github.com/flannel-io/cni-plugin) is not served by the proxy
// (403 for every version); until v0.9.1 it lived in the CNI reference plugins as plugins/meta/flannel,
// which is served: built from there. (go 1.24 for the tool directive; upstream's packages still compile
// at their own module's language version, go 1.14.)
module kubeadm-vagrant.test/artifacts/cni-flannel

go 1.24

// The main package built from this module (a tool directive keeps `go mod tidy` from dropping it).
tool github.com/containernetworking/plugins/plugins/meta/flannel

require (
	github.com/Microsoft/go-winio v0.4.11 // indirect
	github.com/Microsoft/hcsshim v0.8.6 // indirect
	github.com/buger/jsonparser v0.0.0-20180808090653-f4dd9f5a6b44 // indirect
	github.com/containernetworking/cni v0.8.1 // indirect
	github.com/containernetworking/plugins v0.9.1 // indirect
	github.com/sirupsen/logrus v1.0.6 // indirect
	golang.org/x/crypto v0.0.0-20200622213623-75b288015ac9 // indirect
	golang.org/x/sys v0.0.0-20201117170446-d9b008d0a637 // indirect
)
