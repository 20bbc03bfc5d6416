// Export protocol: count the stored (:Layer) nodes of one network, to check an export
// before marking it complete.
// :param network_id => '0123456789abcdef'
MATCH (l:Layer {network_id: $network_id}) WHERE l.index IS NOT NULL
RETURN count(l) AS layers
