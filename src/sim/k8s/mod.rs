//! Simulated member clusters: a Kubernetes API server that kubectl, helm and kube-rs accept, with AKO emulation.
