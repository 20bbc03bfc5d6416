// Export: create the MGE units i = $first..$last of partition $p (uid = $offset + i) with the
// whitelisted labels [L<p>, N_<network_id>]; returns their internal ids in i order, which the
// relationship batches of the same export use.
// :param network_id => '0123456789abcdef'
// :param labels => ['L0', 'N_0123456789abcdef']
// :param p => 0
// :param offset => 0
// :param first => 0
// :param last => 1
UNWIND range($first, $last) AS i
CREATE (u:Unit:$($labels) {network_id: $network_id, uid: $offset + i, p: $p, i: i})
RETURN collect(id(u)) AS ids
