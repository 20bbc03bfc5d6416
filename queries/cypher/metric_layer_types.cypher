// Layers of one network with the relationship type of their unit edges (CONV, LINEAR, SKIP, POOLED_*)
// and their partitions (to rebuild the MGE in memory and to choose the GDS projection).
// :param network_id => '0123456789abcdef'
MATCH (:Network {network_id: $network_id})-[:HAS_LAYER]->(l:Layer)
RETURN l.index AS index, l.name AS name, l.kind AS kind, l.pool AS pool, l.rel_type AS rel_type,
       l.src_partition AS src_partition, l.dst_partition AS dst_partition,
       l.n_weights AS n_weights, l.n_unmasked AS n_unmasked, l.n_edges AS n_edges
ORDER BY index
