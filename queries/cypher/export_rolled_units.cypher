// Export: create the units i = $first..$last of one side ('in' or 'out') of a rolled graph's
// layer with whitelisted labels [RolledUnit, R_<id>] or [ChannelUnit, C_<id>]; returns their
// internal ids in i order.
// :param network_id => '0123456789abcdef'
// :param labels => ['RolledUnit', 'R_0123456789abcdef']
// :param p => 0
// :param offset => 0
// :param first => 0
// :param last => 1
// :param layer => 0
// :param side => 'in'
UNWIND range($first, $last) AS i
CREATE (u:$($labels) {network_id: $network_id, uid: $offset + i, p: $p, i: i, layer: $layer, side: $side})
RETURN collect(id(u)) AS ids
