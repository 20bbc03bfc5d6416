// Paths from one input unit (partition 0, flat index $unit) to the output layer of a network
// stored at level 'full': every output unit it still reaches after pruning, with the length
// and the units (partition:index) of one shortest path; no row means the input is cut off.
// :param network_id => '0123456789abcdef'
// :param unit => 0
// :param limit => 25
MATCH (n:Network {network_id: $network_id, status: 'complete', level: 'full'})
MATCH (a:Unit {network_id: $network_id, uid: $unit})
WHERE a.p = 0
WITH n, a, n.n_partitions - 1 AS last
MATCH path = ANY SHORTEST (a)-[:CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR]->+(b:Unit)
WHERE b.p = last
RETURN b.i AS output_unit, length(path) AS hops,
       [x IN nodes(path) | toString(x.p) + ':' + toString(x.i)] AS units,
       reduce(s = 0.0, r IN relationships(path) | s + r.w) AS total_weight
ORDER BY output_unit
LIMIT $limit
