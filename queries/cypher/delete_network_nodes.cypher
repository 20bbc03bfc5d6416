// Delete the Layer nodes and the Network node of one network (after its units are gone);
// the network disappears in this one transaction.
// :param network_id => '0123456789abcdef'
OPTIONAL MATCH (l:Layer {network_id: $network_id}) WHERE l.index IS NOT NULL
DETACH DELETE l
WITH count(l) AS layers
OPTIONAL MATCH (n:Network {network_id: $network_id})
DETACH DELETE n
RETURN layers, count(n) AS networks
