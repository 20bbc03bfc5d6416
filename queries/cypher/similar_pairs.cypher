// The stored stability pairs of one study: every SIMILAR relationship between two complete
// networks, with the pair's shared architecture, pruner and sparsity, its setting ('init' or
// 'data'), the seeds and datasets of both ends, and the layer-weighted Jaccard and overlap
// (Cunegatti et al. 2023, eq. 4).
// :param study => 'demo'
MATCH (a:Network {study: $study, status: 'complete'})-[r:SIMILAR]->(b:Network {status: 'complete'})
RETURN a.network_id AS network_a, b.network_id AS network_b, r.setting AS setting,
       a.architecture AS architecture, a.pruner AS pruner, a.sparsity AS sparsity,
       a.seed AS seed_a, b.seed AS seed_b, a.dataset AS dataset_a, b.dataset AS dataset_b,
       r.jaccard AS jaccard, r.overlap AS overlap
ORDER BY setting, architecture, pruner, sparsity, network_a, network_b
