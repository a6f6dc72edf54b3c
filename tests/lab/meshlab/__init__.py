"""meshlab: the meshops.istio_vm test lab (kube-apiserver, istiod, systemd-nspawn VMs)."""
