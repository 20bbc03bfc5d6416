// The ids of every network of one study, whatever their status (used to delete a study).
// :param study => 'demo'
MATCH (n:Network)
WHERE n.study = $study
RETURN n.network_id AS network_id, n.status AS status
ORDER BY network_id
