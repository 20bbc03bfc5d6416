// The complete networks of one study, with identity, storage level, size and accuracies.
// :param study => 'demo'
MATCH (n:Network {status: 'complete'})
WHERE n.study = $study
RETURN n.network_id AS network_id, n.architecture AS architecture, n.dataset AS dataset,
       n.pruner AS pruner, n.pruner_category AS category, n.sparsity AS sparsity,
       n.seed AS seed, n.level AS level, n.n_nodes AS nodes, n.n_edges AS edges,
       n.acc_dense AS acc_dense, n.acc_sparse AS acc_sparse, n.acc_drop AS acc_drop
ORDER BY architecture, pruner, sparsity, seed, network_id
