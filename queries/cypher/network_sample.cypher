// A small piece of one network's MGE to look at in Neo4j Browser's graph view: the edges of
// layer $layer leaving the first $limit units with outgoing edges of that layer.
// :param network_id => '0123456789abcdef'
// :param layer => 0
// :param limit => 5
MATCH (l:Layer {network_id: $network_id, index: $layer})
MATCH (n:Network {network_id: $network_id, status: 'complete', level: 'full'})
MATCH (a:Unit {network_id: $network_id})
WHERE n.partition_offsets[l.src_partition] <= a.uid < n.partition_offsets[l.src_partition] + n.partition_sizes[l.src_partition]
  AND EXISTS { (a)-[r]->() WHERE r.layer = $layer }
WITH a ORDER BY a.uid LIMIT $limit
MATCH (a)-[r]->(b)
WHERE r.layer = $layer
RETURN a, r, b
