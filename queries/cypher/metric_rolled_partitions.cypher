// Partitions (one per side of each layer) of a stored rolled or rolled-channel graph of one network:
// unit counts per partition, with the layer and side they belong to (to rebuild the graph in memory).
// $label is 'RolledUnit' or 'ChannelUnit' (whitelisted by the caller).
// :param label => 'RolledUnit'
// :param network_id => '0123456789abcdef'
MATCH (u:$($label) {network_id: $network_id})
RETURN u.p AS p, u.layer AS layer, u.side AS side, count(*) AS size, min(u.uid) AS first_uid
ORDER BY p
