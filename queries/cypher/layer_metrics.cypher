// Per-layer metrics of one study: one row per (complete network, layer) with the layer's
// identity and every stored Layer property (layer_density, delta_r, delta_r_imdb,
// lambda_imsg, ... and their ch_ versions) in the map `props`. The analysis layer averages
// them into network-level mean_<metric> columns and plots them against layer density.
// :param study => 'demo'
MATCH (n:Network {status: 'complete'})-[:HAS_LAYER]->(l:Layer)
WHERE n.study = $study
RETURN n.network_id AS network_id, l.index AS layer, l.name AS layer_name, l.kind AS kind,
       properties(l) AS props
ORDER BY network_id, layer
