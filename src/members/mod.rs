//! Member clusters: parsing the members kubeconfig (GSLB_CONFIG) and building clients for its contexts.
