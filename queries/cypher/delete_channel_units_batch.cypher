// Delete, one batch: up to $batch_size rolled-channel units of one network, with their relationships.
// :param network_id => '0123456789abcdef'
// :param batch_size => 10000
MATCH (u:ChannelUnit {network_id: $network_id}) WHERE u.uid IS NOT NULL
WITH u LIMIT $batch_size
DETACH DELETE u
RETURN count(*) AS n
