// Delete, first step: mark one network 'deleting', so a delete that dies half-way never
// leaves a network that looks complete (readers list complete networks only).
// :param network_id => '0123456789abcdef'
MATCH (n:Network {network_id: $network_id})
SET n.status = 'deleting'
RETURN count(n) AS n
