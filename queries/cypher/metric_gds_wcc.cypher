// Weakly connected components of a projection: count and mean size (isolated nodes count).
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
CALL gds.wcc.stats($graph_name) YIELD componentCount
RETURN componentCount AS components
