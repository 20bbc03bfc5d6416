// Drop a GDS projection if it exists (no error when it is already gone).
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
CALL gds.graph.drop($graph_name, false) YIELD graphName
RETURN graphName
