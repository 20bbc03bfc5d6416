// The k-hop neighbourhood (edges followed in both directions, k <= 6) of one unit
// (partition $partition, flat index $unit) of a network stored at level 'full': per distance
// and partition, how many units and the first $limit unit indices.
// :param network_id => '0123456789abcdef'
// :param partition => 1
// :param unit => 0
// :param k => 2
// :param limit => 10
MATCH (n:Network {network_id: $network_id, status: 'complete', level: 'full'})
WHERE 0 <= $partition < n.n_partitions
MATCH (a:Unit {network_id: $network_id, uid: n.partition_offsets[$partition] + $unit})
WHERE a.p = $partition
MATCH path = ANY SHORTEST (a)-[:CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR]-{1,6}(b:Unit)
WHERE length(path) <= $k AND b <> a
WITH length(path) AS hops, b
ORDER BY hops, b.uid
RETURN hops, b.p AS partition, count(b) AS units, collect(b.i)[..$limit] AS first_units
ORDER BY hops, partition
