// Mean core number over the nodes of an undirected projection.
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
CALL gds.kcore.stream($graph_name) YIELD coreValue
RETURN avg(toFloat(coreValue)) AS kcore, count(*) AS n_nodes
