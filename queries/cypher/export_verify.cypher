// Export protocol: count what is stored for one network (units, rolled units, their
// relationships, layers), to check an export before marking it complete.
// :param network_id => '0123456789abcdef'
CALL () {
  MATCH (u:Unit {network_id: $network_id}) WHERE u.uid IS NOT NULL
  RETURN count(u) AS units, sum(COUNT { (u)-->() }) AS unit_rels
}
CALL () {
  MATCH (u:RolledUnit {network_id: $network_id}) WHERE u.uid IS NOT NULL
  RETURN count(u) AS rolled_units, sum(COUNT { (u)-->() }) AS rolled_rels
}
CALL () {
  MATCH (u:ChannelUnit {network_id: $network_id}) WHERE u.uid IS NOT NULL
  RETURN count(u) AS channel_units, sum(COUNT { (u)-->() }) AS channel_rels
}
CALL () {
  MATCH (l:Layer {network_id: $network_id}) WHERE l.index IS NOT NULL
  RETURN count(l) AS layers
}
RETURN units, unit_rels, rolled_units, rolled_rels, channel_units, channel_rels, layers
