// Export: create or update the (:Layer) nodes of one network (one map per MGE edge block).
// :param network_id => '0123456789abcdef'
// :param layers => [{network_id: '0123456789abcdef', index: 0, name: 'fc1', kind: 'linear', rel_type: 'LINEAR', src_partition: 0, dst_partition: 1, n_weights: 2, n_unmasked: 2, n_edges: 2, layer_density: 1.0}]
MATCH (n:Network {network_id: $network_id})
UNWIND $layers AS l
MERGE (y:Layer {network_id: $network_id, index: l.index})
SET y += l
MERGE (n)-[:HAS_LAYER]->(y)
RETURN count(y) AS n
