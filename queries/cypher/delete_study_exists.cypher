// Delete a study, first step: whether its Study node exists (n = 1) or not (n = 0), whatever
// its networks (a study with no networks left can still be deleted).
// :param study => 'demo'
MATCH (s:Study {name: $study})
RETURN count(s) AS n
