// Dead units of one partition (layer of units) of a network stored at level 'full':
// sinks (in-degree > 0, out-degree 0, outside the last partition), sources (in-degree 0,
// out-degree > 0, outside partition 0) and disconnected units (no edge at all); one row per
// kind with the count and the first $limit unit indices i (i = c*H*W + y*W + x).
// :param network_id => '0123456789abcdef'
// :param partition => 1
// :param limit => 10
MATCH (n:Network {network_id: $network_id, status: 'complete', level: 'full'})
WHERE 0 <= $partition < n.n_partitions
CALL (n) {
  MATCH (u:Unit {network_id: $network_id})
  WHERE n.partition_offsets[$partition] <= u.uid < n.partition_offsets[$partition] + n.partition_sizes[$partition]
  WITH u, COUNT { (u)<--() } AS in_degree, COUNT { (u)-->() } AS out_degree
  RETURN u.i AS i,
         CASE
           WHEN in_degree = 0 AND out_degree = 0 THEN 'disconnected'
           WHEN out_degree = 0 AND $partition < n.n_partitions - 1 THEN 'sink'
           WHEN in_degree = 0 AND $partition > 0 THEN 'source'
         END AS kind
  ORDER BY i
}
WITH collect({i: i, kind: kind}) AS units
UNWIND ['sink', 'source', 'disconnected'] AS kind
RETURN kind, size([u IN units WHERE u.kind = kind]) AS units,
       [u IN units WHERE u.kind = kind | u.i][..$limit] AS first_units
