// Cost backfill: the complete networks of one study (every study when $study is null) whose
// Network node or one of whose Layer nodes lacks a cost property (params, params_nonzero,
// flops_dense, flops_sparse), with their stored layer count and whether the Network keeps its
// partition sizes (what the cost is computed from).
// :param study => 'demo'
MATCH (n:Network {status: 'complete'})
WHERE $study IS NULL OR n.study = $study
OPTIONAL MATCH (n)-[:HAS_LAYER]->(l:Layer)
WITH n, count(l) AS layers,
     count(CASE WHEN l.params IS NULL OR l.params_nonzero IS NULL OR l.flops_dense IS NULL
                     OR l.flops_sparse IS NULL THEN 1 END) AS layers_without_cost
WHERE layers_without_cost > 0 OR n.params IS NULL OR n.params_nonzero IS NULL
      OR n.flops_dense IS NULL OR n.flops_sparse IS NULL
RETURN n.network_id AS network_id, n.study AS study, layers,
       n.partition_sizes IS NOT NULL AS has_partition_sizes
ORDER BY study, network_id
