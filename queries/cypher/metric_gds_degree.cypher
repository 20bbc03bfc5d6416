// Mean degree of a natural projection in one orientation (NATURAL = out, REVERSE = in),
// unweighted or weighted by |w| (strength).
// :param graph_name => 'prunegraph_metrics_0123456789abcdef'
// :param config => {orientation: 'REVERSE', relationshipWeightProperty: 'w'}
CALL gds.degree.stream($graph_name, $config) YIELD score
RETURN avg(score) AS mean_degree, count(*) AS n_nodes
