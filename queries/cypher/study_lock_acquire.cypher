// Take the writer lock of a study: create it, keep it (same token), or take over a lock whose
// holder stopped beating for $ttl seconds. Returns whether this caller holds it, and the holder.
// :param study => 'demo'
// :param token => 'host:1234:0123456789abcdef'
// :param host => 'host'
// :param pid => 1234
// :param ttl => 60
MERGE (l:StudyLock {study: $study})
ON CREATE SET l.token = $token, l.host = $host, l.pid = $pid, l.started_at = datetime(),
              l.heartbeat_at = datetime()
WITH l, l.token <> $token AND l.heartbeat_at < datetime() - duration({seconds: $ttl}) AS stale,
     l.host AS previous_host, l.pid AS previous_pid
FOREACH (_ IN CASE WHEN stale THEN [1] ELSE [] END |
  SET l.token = $token, l.host = $host, l.pid = $pid, l.started_at = datetime(),
      l.heartbeat_at = datetime())
RETURN l.token = $token AS acquired, stale AS took_over, previous_host, previous_pid,
       l.host AS host, l.pid AS pid,
       toString(l.started_at) AS started_at,
       duration.inSeconds(l.heartbeat_at, datetime()).seconds AS seconds_since_heartbeat
