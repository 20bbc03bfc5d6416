// Delete, one batch: up to $batch_size MGE units of one network, with their relationships.
// Repeat until it returns n = 0 (small transactions, whatever the network's size).
// :param network_id => '0123456789abcdef'
// :param batch_size => 10000
MATCH (u:Unit {network_id: $network_id}) WHERE u.uid IS NOT NULL
WITH u LIMIT $batch_size
DETACH DELETE u
RETURN count(*) AS n
