// Cost backfill: set the cost (params, params_nonzero, flops_dense, flops_sparse) on the
// Network and Layer nodes of stored networks, one map per network with its per-layer values
// (idempotent: a second run writes the same values).
// :param rows => [{network_id: '0123456789abcdef', params: 120, params_nonzero: 40, flops_dense: 912, flops_sparse: 300, layers: [{index: 0, params: 18, params_nonzero: 6, flops_dense: 648, flops_sparse: 216}]}]
UNWIND $rows AS row
MATCH (n:Network {network_id: row.network_id})
SET n.params = row.params, n.params_nonzero = row.params_nonzero,
    n.flops_dense = row.flops_dense, n.flops_sparse = row.flops_sparse
WITH n, row
UNWIND row.layers AS c
MATCH (n)-[:HAS_LAYER]->(l:Layer {network_id: row.network_id, index: c.index})
SET l.params = c.params, l.params_nonzero = c.params_nonzero,
    l.flops_dense = c.flops_dense, l.flops_sparse = c.flops_sparse
RETURN count(DISTINCT n) AS networks, count(l) AS layers
