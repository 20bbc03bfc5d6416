// Cost backfill: what the cost of stored networks is computed from, one row per Layer: the
// Network's partition sizes and the layer's block metadata (kind, weight shape, weights and
// unmasked weights, parameter name, target partition).
// :param network_ids => ['0123456789abcdef']
MATCH (n:Network)-[:HAS_LAYER]->(l:Layer)
WHERE n.network_id IN $network_ids
RETURN n.network_id AS network_id, n.partition_sizes AS partition_sizes, l.index AS index,
       l.name AS name, l.kind AS kind, l.weight_shape AS weight_shape,
       l.n_weights AS n_weights, l.n_unmasked AS n_unmasked, l.param_name AS param_name,
       l.dst_partition AS dst_partition
ORDER BY network_id, index
