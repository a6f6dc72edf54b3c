// Command meshlab-kube runs the control plane of the meshops.istio_vm lab:
// a real kube-apiserver (k8s.io/kubernetes) with an etcd embedded in the same
// process, or a real kube-controller-manager.
//
//	meshlab-kube apiserver --etcd-dir DIR --etcd-client-port P --etcd-peer-port Q -- <kube-apiserver flags>
//	meshlab-kube controller-manager -- <kube-controller-manager flags>
//
// The flags after "--" are handed to the upstream commands unchanged; the lab
// CLI (tests/lab/lab) decides them.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: meshlab-kube apiserver|controller-manager [own flags] -- <upstream flags>")
	os.Exit(2)
}

// split separates our own flags from the upstream ones at the first "--".
func split(args []string) (own, upstream []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func startEtcd(dir string, clientPort, peerPort int) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Name = "meshlab"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("embedded etcd: not ready after 60s")
	}
	return e, client.String(), nil
}

func runAPIServer(args []string) int {
	own, upstream := split(args)
	fs := flag.NewFlagSet("apiserver", flag.ExitOnError)
	dir := fs.String("etcd-dir", "", "data directory of the embedded etcd (required)")
	clientPort := fs.Int("etcd-client-port", 2379, "loopback port for etcd clients")
	peerPort := fs.Int("etcd-peer-port", 2380, "loopback port for etcd peers")
	_ = fs.Parse(own)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "meshlab-kube apiserver: --etcd-dir is required")
		return 2
	}
	e, endpoint, err := startEtcd(*dir, *clientPort, *peerPort)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshlab-kube:", err)
		return 1
	}
	defer e.Close()
	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(append([]string{"--etcd-servers=" + endpoint}, upstream...))
	return cli.Run(cmd)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "apiserver":
		os.Exit(runAPIServer(os.Args[2:]))
	case "controller-manager":
		_, upstream := split(os.Args[2:])
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(upstream)
		os.Exit(cli.Run(cmd))
	default:
		usage()
	}
}
