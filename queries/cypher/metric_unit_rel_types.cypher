// Relationship types used by one network's MGE units (fallback when its Layer nodes are missing).
// :param label => 'N_0123456789abcdef'
MATCH (:$($label))-[r]->()
RETURN DISTINCT type(r) AS rel_type
