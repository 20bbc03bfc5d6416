// Release the writer lock of a study, if this caller holds it.
// :param study => 'demo'
// :param token => 'host:1234:0123456789abcdef'
MATCH (l:StudyLock {study: $study, token: $token})
DELETE l
RETURN count(*) AS released
