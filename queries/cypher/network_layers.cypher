// A network's layer summary: per MGE edge block (conv, linear or skip layer) its partitions,
// relationship type, weight shape, weights (all and unmasked), edges and layer density.
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id, status: 'complete'})-[:HAS_LAYER]->(l:Layer)
RETURN l.index AS layer, l.name AS name, l.kind AS kind, l.rel_type AS type,
       l.src_partition AS src, l.dst_partition AS dst, l.weight_shape AS weight_shape,
       l.n_weights AS weights, l.n_unmasked AS unmasked, l.n_edges AS edges,
       l.layer_density AS density
ORDER BY layer
