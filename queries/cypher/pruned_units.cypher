// Units whose edges were all pruned, per partition of a network stored at level 'full':
// isolated units (every incoming and outgoing weight pruned), units that receive nothing
// (all incoming weights pruned, partition > 0) and units that feed nothing (all outgoing
// weights pruned, before the last partition), with the partition size and the first
// $limit isolated unit indices.
// :param network_id => '0123456789abcdef'
// :param limit => 10
MATCH (n:Network {network_id: $network_id, status: 'complete', level: 'full'})
MATCH (u:Unit {network_id: $network_id}) WHERE u.uid IS NOT NULL
WITH n, u, COUNT { (u)<--() } AS in_degree, COUNT { (u)-->() } AS out_degree
ORDER BY u.uid
WITH n, u.p AS partition, count(*) AS size,
     sum(CASE WHEN in_degree = 0 AND out_degree = 0 THEN 1 ELSE 0 END) AS isolated,
     sum(CASE WHEN in_degree = 0 AND u.p > 0 THEN 1 ELSE 0 END) AS no_inputs,
     sum(CASE WHEN out_degree = 0 AND u.p < n.n_partitions - 1 THEN 1 ELSE 0 END) AS no_outputs,
     collect(CASE WHEN in_degree = 0 AND out_degree = 0 THEN u.i END)[..$limit] AS first_isolated
RETURN partition, size, isolated, no_inputs, no_outputs, first_isolated
ORDER BY partition
