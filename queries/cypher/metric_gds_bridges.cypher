// Number of bridges (cut edges) of an undirected projection.
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
CALL gds.bridges.stream($graph_name) YIELD from
RETURN count(*) AS cut_edges
