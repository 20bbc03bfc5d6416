// Every complete network in the store (all studies), with its identity, storage level, size
// and accuracies. Networks still being written (status 'writing') are left out: see
// list_incomplete_networks.
MATCH (n:Network {status: 'complete'})
RETURN n.network_id AS network_id, n.study AS study, n.architecture AS architecture,
       n.dataset AS dataset, n.pruner AS pruner, n.pruner_category AS category,
       n.sparsity AS sparsity, n.seed AS seed, n.level AS level, n.n_nodes AS nodes,
       n.n_edges AS edges, n.acc_dense AS acc_dense, n.acc_sparse AS acc_sparse,
       n.acc_drop AS acc_drop
ORDER BY study, architecture, pruner, sparsity, seed, network_id
