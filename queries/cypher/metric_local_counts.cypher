// Local topometrics of one stored MGE (level 'full'): sink, source, disconnected, removable
// connections and the mean number of distinct out-neighbours (n1), from unit degrees.
// :param label => 'N_0123456789abcdef'
// :param last_partition => 9
MATCH (u:$($label))
WITH u.p AS p, COUNT { (u)-->() } AS dout, COUNT { (u)<--() } AS din,
     COUNT { MATCH (u)-->(v) RETURN DISTINCT v } AS distinct_out
WITH p, dout, din, distinct_out,
     (p <> $last_partition AND dout = 0 AND din > 0) AS is_sink,
     (p <> 0 AND din = 0 AND dout > 0) AS is_source
RETURN count(*) AS n_nodes,
       sum(CASE WHEN is_sink THEN 1 ELSE 0 END) AS sink,
       sum(CASE WHEN is_source THEN 1 ELSE 0 END) AS source,
       sum(CASE WHEN din = 0 AND dout = 0 THEN 1 ELSE 0 END) AS disconnected,
       sum(CASE WHEN is_source THEN dout ELSE 0 END) AS r_out,
       sum(CASE WHEN is_sink THEN din ELSE 0 END) AS r_in,
       toFloat(sum(distinct_out)) / count(*) AS n1
