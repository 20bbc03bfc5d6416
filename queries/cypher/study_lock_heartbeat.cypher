// Renew the writer lock of a study, if this caller still holds it (returns no row otherwise).
// :param study => 'demo'
// :param token => 'host:1234:0123456789abcdef'
MATCH (l:StudyLock {study: $study, token: $token})
SET l.heartbeat_at = datetime()
RETURN l.study AS study
