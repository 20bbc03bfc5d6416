// Number of articulation points (cut nodes) of an undirected projection.
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
CALL gds.articulationPoints.stream($graph_name) YIELD nodeId
RETURN count(*) AS cut_nodes
