// Storage level, size, partition shapes and recorded metric engines of one network.
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id})
RETURN n.level AS level, n.status AS status, n.n_nodes AS n_nodes, n.n_edges AS n_edges,
       n.n_partitions AS n_partitions, n.partition_shapes_json AS partition_shapes_json,
       n.metric_engines AS metric_engines, n.metric_estimators AS metric_estimators
