// Feature table of one study: one row per complete network with its identifiers, accuracies
// and every stored property (metrics written by `prunegraph metrics`, their `_se` errors,
// n_nodes / n_edges for the `paper` normalisation) in the map `props`. The analysis layer
// (prunegraph.analysis.features.load_features) flattens `props` into columns.
// :param study => 'demo'
MATCH (n:Network {status: 'complete'})
WHERE n.study = $study
RETURN n.network_id AS network_id, n.study AS study, n.architecture AS architecture,
       n.dataset AS dataset, n.pruner AS pruner, n.pruner_category AS pruner_category,
       n.sparsity AS sparsity, n.seed AS seed, n.acc_dense AS acc_dense,
       n.acc_sparse AS acc_sparse, n.acc_drop AS acc_drop, properties(n) AS props
ORDER BY architecture, dataset, pruner, sparsity, seed, network_id
