// Every study's writer lock: the study, its holder (host, pid, since when) and the seconds since
// its last heartbeat (a lock whose holder stopped beating for the lock's ttl counts as abandoned).
MATCH (l:StudyLock)
RETURN l.study AS study, l.host AS host, l.pid AS pid, toString(l.started_at) AS started_at,
       duration.inSeconds(l.heartbeat_at, datetime()).seconds AS seconds_since_heartbeat
ORDER BY study
