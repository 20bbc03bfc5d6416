// Export protocol: count the stored rolled-BGE units of one network and their outgoing
// relationships, to check an export before marking it complete.
// :param network_id => '0123456789abcdef'
MATCH (u:RolledUnit {network_id: $network_id}) WHERE u.uid IS NOT NULL
RETURN count(u) AS rolled_units, coalesce(sum(COUNT { (u)-->() }), 0) AS rolled_rels
