// Delete a Study node that has no networks left.
// :param study => 'demo'
MATCH (s:Study {name: $study})
WHERE NOT (s)-[:HAS_NETWORK]->()
DELETE s
RETURN count(*) AS n
