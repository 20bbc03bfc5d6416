// Native GDS projection of one network's units ($label = 'N_<network_id>') with the given
// relationship projection map (types CONV, LINEAR, SKIP, POOLED_CONV, POOLED_LINEAR).
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
// :param label => 'N_0123456789abcdef'
// :param relationships => {CONV: {orientation: 'UNDIRECTED', aggregation: 'SINGLE'}}
CALL gds.graph.project($graph_name, $label, $relationships)
YIELD graphName, nodeCount, relationshipCount
RETURN graphName, nodeCount, relationshipCount
